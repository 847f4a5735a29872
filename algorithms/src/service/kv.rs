//! The key-value state machine every key-value service applies its commands to, with the session
//! table that makes a retried command take effect once (Raft §8).
//!
//! A client numbers its operations (`seq` grows by one per new operation) and retries one with the
//! same `seq`. The table keeps, per client, the last `seq` applied and the reply it got: a retry
//! of that `seq` is answered from the table without applying it again, and an older `seq` (a
//! retry that overtook nothing: the client has moved on) is rejected as stale. A client has at
//! most one operation outstanding, so one entry per client is enough.
//!
//! Deterministic and serializable (BTreeMap everywhere), so that replicas applying the same
//! commands in the same order hold equal stores, and a service can persist or snapshot it.

use super::{Command, Outcome, Request};
use crate::core::process::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The last command applied for one client, and what it answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub seq: u64,
    pub outcome: Outcome,
}

/// Keys to string values, and the session table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStore {
    data: BTreeMap<String, String>,
    /// Encoded as a list of `[client, session]` pairs: MessagePack would keep integer map keys,
    /// which JSON (a trace, a snapshot shown to a person) cannot hold.
    #[serde(with = "pairs")]
    sessions: BTreeMap<NodeId, Session>,
}

/// A map as a list of `[key, value]` pairs.
pub(crate) mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(map: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// What [`KvStore::apply`] did with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A new command: applied, its outcome recorded in the session table.
    Fresh(Outcome),
    /// The client's last command again: answered from the table, not applied.
    Duplicate(Outcome),
    /// Older than the client's last command: not applied, rejected.
    Stale(Outcome),
}

impl Applied {
    pub fn outcome(&self) -> &Outcome {
        match self {
            Applied::Fresh(o) | Applied::Duplicate(o) | Applied::Stale(o) => o,
        }
    }

    pub fn into_outcome(self) -> Outcome {
        match self {
            Applied::Fresh(o) | Applied::Duplicate(o) | Applied::Stale(o) => o,
        }
    }

    /// Whether the command changed (or could have changed) the store just now.
    pub fn is_fresh(&self) -> bool {
        matches!(self, Applied::Fresh(_))
    }
}

impl KvStore {
    pub fn new() -> KvStore {
        KvStore::default()
    }

    /// Applies `request` at most once per `(client, seq)` and answers it.
    pub fn apply(&mut self, request: &Request) -> Outcome {
        self.apply_tracked(request).into_outcome()
    }

    /// As [`KvStore::apply`], saying whether the command was applied or answered from the
    /// session table (a service emits its `applied` event only for a fresh one).
    pub fn apply_tracked(&mut self, request: &Request) -> Applied {
        if let Some(last) = self.sessions.get(&request.client) {
            if request.seq == last.seq {
                return Applied::Duplicate(last.outcome.clone());
            }
            if request.seq < last.seq {
                return Applied::Stale(Outcome::Rejected {
                    reason: format!(
                        "stale request: client {} seq {} is older than its last applied seq {}",
                        request.client, request.seq, last.seq
                    ),
                });
            }
        }
        let outcome = self.execute(&request.command);
        self.sessions.insert(request.client, Session { seq: request.seq, outcome: outcome.clone() });
        Applied::Fresh(outcome)
    }

    /// The command's effect on the data, without the session table.
    fn execute(&mut self, command: &Command) -> Outcome {
        let ok = |value| Outcome::Ok { value };
        match command {
            Command::Get { key } => ok(self.data.get(key).cloned()),
            Command::Put { key, value } => {
                self.data.insert(key.clone(), value.clone());
                ok(None)
            }
            Command::Append { key, value } => {
                self.data.entry(key.clone()).or_default().push_str(value);
                ok(None)
            }
            Command::Cas { key, from, to } => {
                let current = self.data.get(key);
                if current == from.as_ref() {
                    self.data.insert(key.clone(), to.clone());
                    ok(None)
                } else {
                    Outcome::Rejected { reason: format!("cas: {key} is {current:?}, not {from:?}") }
                }
            }
            Command::Delete { key } => match self.data.remove(key) {
                Some(_) => ok(None),
                None => Outcome::Rejected { reason: format!("delete: {key} is absent") },
            },
        }
    }

    /// The value of `key`, as a get would answer it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }

    /// The data, in key order.
    pub fn data(&self) -> &BTreeMap<String, String> {
        &self.data
    }

    /// The last command applied for `client`.
    pub fn session(&self, client: NodeId) -> Option<&Session> {
        self.sessions.get(&client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(client: NodeId, seq: u64, command: Command) -> Request {
        Request { client, seq, command }
    }
    fn put(key: &str, value: &str) -> Command {
        Command::Put { key: key.into(), value: value.into() }
    }
    fn get(key: &str) -> Command {
        Command::Get { key: key.into() }
    }
    fn ok(value: Option<&str>) -> Outcome {
        Outcome::Ok { value: value.map(String::from) }
    }

    #[test]
    fn put_get_append_cas_delete_do_what_they_say() {
        let mut kv = KvStore::new();
        assert_eq!(kv.apply(&req(7, 1, get("x"))), ok(None), "absent reads as None");
        assert_eq!(kv.apply(&req(7, 2, put("x", "a"))), ok(None));
        assert_eq!(kv.apply(&req(7, 3, Command::Append { key: "x".into(), value: "b".into() })), ok(None));
        assert_eq!(kv.apply(&req(7, 4, get("x"))), ok(Some("ab")));
        assert_eq!(kv.apply(&req(7, 5, Command::Append { key: "y".into(), value: "c".into() })), ok(None));
        assert_eq!(kv.get("y"), Some("c"), "append onto absent starts from the empty string");

        let cas = |from: Option<&str>, to: &str| Command::Cas {
            key: "x".into(),
            from: from.map(String::from),
            to: to.into(),
        };
        assert!(matches!(kv.apply(&req(7, 6, cas(Some("zz"), "q"))), Outcome::Rejected { .. }));
        assert_eq!(kv.get("x"), Some("ab"), "a failed cas changes nothing");
        assert_eq!(kv.apply(&req(7, 7, cas(Some("ab"), "q"))), ok(None));
        assert_eq!(kv.get("x"), Some("q"));
        assert!(matches!(
            kv.apply(&req(7, 8, Command::Cas { key: "n".into(), from: Some("1".into()), to: "2".into() })),
            Outcome::Rejected { .. }
        ));
        assert_eq!(
            kv.apply(&req(7, 9, Command::Cas { key: "n".into(), from: None, to: "2".into() })),
            ok(None),
            "from None: absent"
        );

        assert_eq!(kv.apply(&req(7, 10, Command::Delete { key: "x".into() })), ok(None));
        assert_eq!(kv.get("x"), None);
        assert!(matches!(kv.apply(&req(7, 11, Command::Delete { key: "x".into() })), Outcome::Rejected { .. }));
        assert_eq!(kv.data().keys().collect::<Vec<_>>(), ["n", "y"]);
    }

    #[test]
    fn a_retried_seq_is_answered_from_the_session_table_without_applying_again() {
        let mut kv = KvStore::new();
        let append = req(3, 1, Command::Append { key: "x".into(), value: "a".into() });
        assert!(kv.apply_tracked(&append).is_fresh());
        assert_eq!(kv.apply_tracked(&append), Applied::Duplicate(ok(None)));
        assert_eq!(kv.get("x"), Some("a"), "the retry did not append twice");

        // The answer is the one the first application gave, even if the data changed since.
        let read = req(3, 2, get("x"));
        assert_eq!(kv.apply(&read), ok(Some("a")));
        kv.apply(&req(4, 1, put("x", "other")));
        assert_eq!(kv.apply_tracked(&read), Applied::Duplicate(ok(Some("a"))));
        assert_eq!(kv.session(3), Some(&Session { seq: 2, outcome: ok(Some("a")) }));
    }

    #[test]
    fn an_older_seq_is_rejected_as_stale_and_changes_nothing() {
        let mut kv = KvStore::new();
        kv.apply(&req(3, 1, put("x", "1")));
        kv.apply(&req(3, 2, put("x", "2")));
        let stale = kv.apply_tracked(&req(3, 1, put("x", "1")));
        let Applied::Stale(Outcome::Rejected { reason }) = stale else { panic!("{stale:?}") };
        assert!(reason.contains("stale") && reason.contains("seq 1") && reason.contains("seq 2"), "{reason}");
        assert_eq!(kv.get("x"), Some("2"));
        assert_eq!(kv.session(3).unwrap().seq, 2, "the table still holds the last seq");
    }

    #[test]
    fn sessions_are_per_client_and_a_gap_in_seq_is_a_new_command() {
        let mut kv = KvStore::new();
        kv.apply(&req(3, 5, put("x", "a")));
        assert!(kv.apply_tracked(&req(4, 5, put("x", "b"))).is_fresh(), "another client's seq 5 is its own");
        assert!(kv.apply_tracked(&req(3, 9, put("x", "c"))).is_fresh());
        assert_eq!(kv.get("x"), Some("c"));
    }

    #[test]
    fn the_store_round_trips_through_messagepack_and_json() {
        let mut kv = KvStore::new();
        kv.apply(&req(3, 1, put("x", "1")));
        kv.apply(&req(4, 1, Command::Delete { key: "zz".into() }));
        let bytes = rmp_serde::to_vec_named(&kv).unwrap();
        assert_eq!(rmp_serde::from_slice::<KvStore>(&bytes).unwrap(), kv);
        let json = serde_json::to_value(&kv).unwrap();
        assert_eq!(json["sessions"][0][0], serde_json::json!(3), "sessions as [client, session] pairs");
        assert_eq!(serde_json::from_value::<KvStore>(json).unwrap(), kv);
        let as_value: serde_json::Value = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(serde_json::from_value::<KvStore>(as_value).unwrap(), kv, "MessagePack reads as JSON too");
    }
}

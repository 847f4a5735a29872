//! Raft's checker: the five guarantees of Figure 3, judged from traces alone.
//!
//! One pass over the run's records rebuilds every server's log from its `log_restored`,
//! `appended` and `truncated` events (an index a restart left unknown stays unknown and is never
//! compared), and follows who leads which term (`elected`), what each server commits
//! (`committed`: every entry up to the index) and applies (`applied`).
//!
//! A snapshot (§7) stands for every entry up to its index. Taken, it changes nothing in the
//! rebuilt log (compaction deletes no entry); installed or restored, the slots it covers become
//! unknown but for its last entry, which it names. For State Machine Safety a snapshot counts as
//! applying its last entry (by Log Matching, the same last entry means the same prefix), and two
//! snapshots at one index must hold the same state; so a server's applied sequence may begin at a
//! snapshot, and a snapshot that disagrees with what others applied at its index is a violation.
//!
//! Besides Figure 3, old leaders are neutralized (§5.1, the course's "neutralizing old
//! leaders"): `stale_leader_commits_nothing` holds that once an entry of a higher term is
//! committed, no leader of an older term commits an entry the newer leader lacks, and the `deposed_entries` metric follows what such a leader appended but
//! could not commit: where it was truncated, and where its client's retry was applied instead.

use super::event::{EntryId, RaftEvent, SnapshotId};
use super::log::{Entry, Op};
use super::RaftParams;
use crate::algorithm::PropertyInfo;
use crate::check::metric::{DeposedEntries, DeposedEntry, EntryCost, Metric};
use crate::check::service::{self, ServiceEvent};
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::core::process::{NodeId, MS};
use crate::core::trace::What;
use crate::election::raft::RaftEvent as TermEvent;
use crate::election::ElectionEvent;
use crate::service::Request;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

pub fn properties() -> Vec<PropertyInfo> {
    vec![
        PropertyInfo { name: "election_safety", promise: "at most one leader is elected in any term" },
        PropertyInfo {
            name: "leader_append_only",
            promise: "a leader never overwrites or deletes entries in its log; it only appends",
        },
        PropertyInfo {
            name: "log_matching",
            promise: "two logs with an entry of the same index and term hold the same command there and are identical in all entries before it",
        },
        PropertyInfo {
            name: "leader_completeness",
            promise: "a committed entry is in the log of every leader of a later term, and is never deleted",
        },
        PropertyInfo {
            name: "state_machine_safety",
            promise: "no two servers apply different entries at the same index",
        },
        PropertyInfo {
            name: "stale_leader_commits_nothing",
            promise: "once an entry of a higher term is committed, a leader of an older term commits nothing the newer leader lacks (a deposed leader is neutralized)",
        },
        PropertyInfo { name: "linearizable", promise: "the clients' history is linearizable as a key-value store" },
        PropertyInfo { name: "exactly_once", promise: "no server applies a client's command (client, seq) twice" },
        PropertyInfo {
            name: "operations_complete",
            promise: "with a connected majority of servers, every operation completes within operation_bound_ms",
        },
    ]
    .into_iter()
    .chain(super::check_membership::properties())
    .collect()
}

/// What the checker knows of one entry of one server's log: `None` where a restart left it
/// unknown (the server persisted it but died before tracing it).
type Slot = Option<(u64, String)>;

#[derive(Default)]
struct Server {
    log: Vec<Slot>,
    term: u64,
    /// The term this server leads, from its `elected` until a higher term or a restart.
    leading: Option<u64>,
    commit: u64,
}

impl Server {
    fn slot(&self, index: u64) -> Option<&Slot> {
        index.checked_sub(1).and_then(|i| self.log.get(i as usize))
    }

    /// The term at `index` as far as known: 0 at index 0, `None` when unknown or absent.
    fn term_at(&self, index: u64) -> Option<u64> {
        if index == 0 {
            return Some(0);
        }
        self.slot(index).and_then(|s| s.as_ref().map(|(t, _)| *t))
    }

    fn resize(&mut self, len: u64) {
        self.log.resize(len as usize, None);
    }
}

/// A snapshot installed or restored into a rebuilt log: the slots up to it become unknown but its
/// last; a suffix that did not follow it was already `truncated`.
pub(super) fn cover(log: &mut Vec<Slot>, snapshot: &SnapshotId) {
    let last = snapshot.index as usize;
    if last == 0 {
        return;
    }
    log.resize(log.len().max(last), None);
    log[..last].fill(None);
    log[last - 1] = Some((snapshot.term, snapshot.digest.clone()));
}

/// The first server's copy of an entry of one index and term: its digest, the term before it (if
/// known), the server and the record.
type FirstHeld = (String, Option<u64>, NodeId, EventRef);

/// Where each entry `(index, term, digest)` was deleted from a log: (node, ms).
type Truncations = BTreeMap<(u64, u64, String), Vec<(NodeId, f64)>>;

/// A committed entry, and who committed it first.
struct Committed {
    term: u64,
    digest: String,
    node: NodeId,
    /// The term the committing server was in.
    in_term: u64,
    at: EventRef,
    t_ms: f64,
}

/// A property's first violation, or how many cases held.
struct Verdicts {
    name: &'static str,
    what: &'static str,
    judged: usize,
    violation: Option<(String, Vec<EventRef>)>,
}

impl Verdicts {
    fn new(name: &'static str, what: &'static str) -> Self {
        Verdicts { name, what, judged: 0, violation: None }
    }

    fn violate(&mut self, detail: String, evidence: Vec<EventRef>) {
        if self.violation.is_none() {
            self.violation = Some((detail, evidence));
        }
    }

    fn result(self, held: String) -> PropertyResult {
        match self.violation {
            Some((detail, evidence)) => PropertyResult::violated(self.name, detail, evidence),
            None => PropertyResult::held(self.name, self.judged, self.what, held),
        }
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(8)]
}

pub fn check_raft(run: &Execution, params: &RaftParams) -> CheckReport {
    let mut servers: BTreeMap<NodeId, Server> = run.nodes.iter().map(|n| (*n, Server::default())).collect();
    let mut election = Verdicts::new("election_safety", "election won (no `elected` event)");
    let mut append_only = Verdicts::new("leader_append_only", "log change by a leader");
    let mut matching = Verdicts::new("log_matching", "entry held by two servers at one index and term");
    let mut completeness = Verdicts::new("leader_completeness", "committed entry followed by a leader of a later term");
    let mut machine = Verdicts::new("state_machine_safety", "index applied by two servers");

    let mut elected: BTreeMap<u64, (NodeId, EventRef)> = BTreeMap::new();
    // (index, term) → the digest and the term before it, from the first server that held it.
    let mut entries: BTreeMap<(u64, u64), FirstHeld> = BTreeMap::new();
    let mut committed: BTreeMap<u64, Committed> = BTreeMap::new();
    let mut applied: Applied = BTreeMap::new();
    let mut snapshots: Snapshots = BTreeMap::new();
    let mut commands: BTreeSet<u64> = BTreeSet::new();
    // Committed entries deleted from a log (index → node, when), and the index whose entry a
    // later leader lacked: the overwritten committed entry a violation names.
    let mut deleted: BTreeMap<u64, Vec<(NodeId, f64)>> = BTreeMap::new();
    let mut lost: Option<u64> = None;
    let mut wins = 0usize;
    let mut stale = Verdicts::new("stale_leader_commits_nothing", "commit by a leader");
    // The highest term of a committed entry so far (a majority stored an entry of that term, so
    // a majority had moved to it), and the record that committed it first.
    let mut highest: Option<(u64, NodeId, EventRef, f64)> = None;
    // Leaders still leading when a higher term's entry was committed: (node, term).
    let mut outlived: BTreeSet<(NodeId, u64)> = BTreeSet::new();
    // What leaders appended in their own term, and what was deleted where, for `deposed_entries`.
    let mut led: Vec<(NodeId, EntryId, f64)> = Vec::new();
    let mut truncations = Truncations::new();

    for r in &run.records {
        let here = EventRef::of(r);
        let Some(s) = servers.get_mut(&r.node) else { continue };
        if let What::Start { .. } = r.what {
            // Volatile state is gone; the log is what `log_restored` says.
            s.leading = None;
            s.commit = 0;
            continue;
        }
        if let Some(ElectionEvent::Elected(e)) = r.event_as::<ElectionEvent>() {
            let Some(term) = e.term else { continue };
            wins += 1;
            match elected.get(&term) {
                Some((other, first)) if *other != r.node => election.violate(
                    format!("nodes {other} and {} were both elected in term {term}", r.node),
                    vec![first.clone(), here.clone()],
                ),
                Some(_) => {}
                None => {
                    elected.insert(term, (r.node, here.clone()));
                }
            }
            election.judged = wins;
            s.leading = Some(term);
            // Leader Completeness: every entry committed in an earlier term is in this log.
            let mut missing = None;
            for (index, c) in committed.iter().filter(|(_, c)| c.in_term < term) {
                match s.slot(*index) {
                    Some(None) => continue, // unknown after a restart: not judged
                    Some(Some((t, d))) if *t == c.term && *d == c.digest => completeness.judged += 1,
                    held => {
                        let has = match held {
                            Some(Some((t, d))) => format!("the entry of term {t} ({}) there", short(d)),
                            _ => format!("a log of {} entries", s.log.len()),
                        };
                        missing.get_or_insert((*index, c, has));
                    }
                }
            }
            if let Some((index, c, has)) = missing.filter(|_| completeness.violation.is_none()) {
                let holders: Vec<NodeId> = servers
                    .iter()
                    .filter(|(_, o)| o.slot(index) == Some(&Some((c.term, c.digest.clone()))))
                    .map(|(n, _)| *n)
                    .collect();
                completeness.violate(
                    format!(
                        "the committed entry at index {index} (term {}, {}), committed by node {} in term {} at {:.0} ms and held by nodes {holders:?}, is not in the log of node {}, elected in term {term} at {:.0} ms: it has {has}",
                        c.term, short(&c.digest), c.node, c.in_term, c.t_ms, r.node, run.ms(r.t)
                    ),
                    vec![c.at.clone(), here.clone()],
                );
                lost = Some(index);
            }
            continue;
        }
        if let Some(ServiceEvent::Applied { index, .. }) = r.event_as::<ServiceEvent>() {
            commands.insert(index);
            continue;
        }
        if let Some(TermEvent::Term { term, .. }) = r.event_as::<TermEvent>() {
            s.term = term;
            if s.leading.is_some_and(|l| l < term) {
                s.leading = None;
            }
            continue;
        }
        let Some(event) = r.event_as::<RaftEvent>() else { continue };
        match event {
            RaftEvent::LogRestored { last_index, .. } => s.resize(last_index),
            RaftEvent::Appended(id) => {
                let end = s.log.len() as u64 + 1;
                if let Some(term) = s.leading {
                    append_only.judged += 1;
                    if id.term == term {
                        led.push((r.node, id.clone(), run.ms(r.t)));
                    }
                    if id.index != end {
                        append_only.violate(
                            format!(
                                "node {}, leader of term {term}, wrote index {} but its log ended at {}",
                                r.node,
                                id.index,
                                end - 1
                            ),
                            vec![here.clone()],
                        );
                    }
                }
                s.resize(id.index - 1);
                let before = s.term_at(id.index - 1);
                s.log.push(Some((id.term, id.digest.clone())));
                match entries.get(&(id.index, id.term)) {
                    None => {
                        entries.insert((id.index, id.term), (id.digest.clone(), before, r.node, here.clone()));
                    }
                    Some((digest, prev, other, first)) => {
                        matching.judged += 1;
                        if *digest != id.digest {
                            matching.violate(
                                format!(
                                    "index {} of term {} holds {} on node {other} and {} on node {}",
                                    id.index,
                                    id.term,
                                    short(digest),
                                    short(&id.digest),
                                    r.node
                                ),
                                vec![first.clone(), here.clone()],
                            );
                        } else if let (Some(p), Some(b)) = (prev, before) {
                            if *p != b {
                                matching.violate(
                                    format!("index {} of term {} is on nodes {other} and {}, but the entries before it differ (terms {p} and {b} at index {})", id.index, id.term, r.node, id.index - 1),
                                    vec![first.clone(), here.clone()],
                                );
                            }
                        }
                    }
                }
            }
            RaftEvent::Truncated { from, removed } => {
                if let Some(term) = s.leading {
                    append_only.judged += 1;
                    append_only.violate(
                        format!("node {}, leader of term {term}, deleted its entries from index {from} on", r.node),
                        vec![here.clone()],
                    );
                }
                for gone in &removed {
                    let key = (gone.index, gone.term, gone.digest.clone());
                    truncations.entry(key).or_default().push((r.node, (run.ms(r.t) * 10.0).round() / 10.0));
                    if let Some(c) =
                        committed.get(&gone.index).filter(|c| c.term == gone.term && c.digest == gone.digest)
                    {
                        deleted.entry(gone.index).or_default().push((r.node, run.ms(r.t)));
                        completeness.violate(
                            format!(
                                "the committed entry at index {} (term {}, {}), committed by node {} in term {} at {:.0} ms, was deleted from node {}'s log at {:.0} ms, in term {}",
                                gone.index, gone.term, short(&gone.digest), c.node, c.in_term, c.t_ms, r.node, run.ms(r.t), s.term
                            ),
                            vec![c.at.clone(), here.clone()],
                        );
                    }
                }
                s.resize(from.saturating_sub(1).min(s.log.len() as u64));
            }
            RaftEvent::Committed { index, .. } => {
                // Only a leader outlived by a higher term's commit is compared: its newly committed
                // slots, copied (the other server is read next).
                let (leading, from) = (s.leading, s.commit + 1);
                let outrun = leading.is_some_and(|t| highest.as_ref().is_some_and(|(h, ..)| *h > t));
                let upto = if outrun { (index as usize).min(s.log.len()) } else { 0 };
                let mine = Server { log: s.log[..upto].to_vec(), ..Server::default() };
                if let Some(term) = leading {
                    stale.judged += 1;
                    // A leader may still commit after a higher term did, on acknowledgements sent
                    // before its followers moved on (and delivered late): those entries were on a
                    // majority before the new term's election, so its leader holds them. What a
                    // deposed leader must never commit is an entry that leader lacks.
                    if let Some((higher, node, at, ms)) = highest.as_ref().filter(|(h, ..)| *h > term) {
                        let newer = elected.range(term + 1..).next_back().map(|(t, (n, _))| (*t, *n));
                        let lacking = newer.and_then(|(t, n)| {
                            let holder = servers.get(&n)?;
                            (from..=index).find_map(|i| match (mine.slot(i), holder.slot(i)) {
                                (Some(Some(a)), Some(Some(b))) if a == b => None,
                                (Some(Some(_)), Some(None)) => None, // unknown after a restart
                                (Some(Some(_)), _) => Some((i, t, n)),
                                _ => None,
                            })
                        });
                        if let Some((i, t, n)) = lacking {
                            stale.violate(
                                format!(
                                    "node {}, leader of term {term}, committed index {i} at {:.0} ms, after an entry of term {higher} had been committed (by node {node} at {ms:.0} ms), and node {n}, leader of term {t}, does not hold that entry: a deposed leader committed",
                                    r.node,
                                    run.ms(r.t)
                                ),
                                vec![at.clone(), here.clone()],
                            );
                        }
                    }
                }
                let s = servers.get_mut(&r.node).expect("a server of the run");
                for i in s.commit + 1..=index {
                    let Some(Some((term, digest))) = s.slot(i).cloned() else { continue };
                    match committed.get(&i) {
                        Some(c) if c.term != term || c.digest != digest => completeness.violate(
                            format!(
                                "index {i} was committed twice with different entries: term {} ({}) by node {} in term {}, then term {term} ({}) by node {} in term {}",
                                c.term, short(&c.digest), c.node, c.in_term, short(&digest), r.node, s.term
                            ),
                            vec![c.at.clone(), here.clone()],
                        ),
                        Some(_) => {}
                        None => {
                            if highest.as_ref().is_none_or(|(h, ..)| term > *h) {
                                highest = Some((term, r.node, here.clone(), run.ms(r.t)));
                            }
                            let c = Committed { term, digest, node: r.node, in_term: s.term, at: here.clone(), t_ms: run.ms(r.t) };
                            committed.insert(i, c);
                        }
                    }
                }
                s.commit = s.commit.max(index);
                if let Some((h, ..)) = highest {
                    let leaders = servers.iter().filter_map(|(n, o)| o.leading.filter(|l| *l < h).map(|l| (*n, l)));
                    outlived.extend(leaders);
                }
            }
            RaftEvent::Config { .. } => {}   // judged by the membership check
            RaftEvent::Transfer { .. } => {} // its election is judged like any other
            RaftEvent::AppliedEntry(entry) => note_applied(&mut machine, &mut applied, entry, "applied", r.node, here),
            RaftEvent::SnapshotTaken(snapshot) => {
                note_snapshot(&mut machine, &mut applied, &mut snapshots, snapshot, "snapshotted", r.node, here)
            }
            RaftEvent::SnapshotInstalled { snapshot, .. } | RaftEvent::SnapshotRestored(snapshot) => {
                cover(&mut s.log, &snapshot);
                note_snapshot(
                    &mut machine,
                    &mut applied,
                    &mut snapshots,
                    snapshot,
                    "installed a snapshot of",
                    r.node,
                    here,
                )
            }
        }
    }

    let held = [
        format!("{wins} win(s) in {} term(s), one leader in each", elected.len()),
        format!("{} change(s) to leaders' logs, each an append at the end", append_only.judged),
        format!(
            "{} time(s) two servers held an entry of one index and term: the same command, the same term before it",
            matching.judged
        ),
        format!(
            "{} committed entr(ies) compared with {} later leader(s)' logs: all there",
            completeness.judged,
            elected.len()
        ),
        format!(
            "{} time(s) an index was applied again (by another server, or after a restart): the same entry each time",
            machine.judged
        ),
    ];
    let [e, a, m, c, s] = held;
    let stale_held = format!(
        "{} commit(s) by leaders, none of an entry a newer term's leader lacked; {} leader(s) still led when a higher term committed, and committed nothing of their own from then on",
        stale.judged,
        outlived.len()
    );
    if let (Some(index), Some((detail, _))) = (lost, completeness.violation.as_mut()) {
        if let Some(gone) = deleted.get(&index) {
            let gone: Vec<String> = gone.iter().map(|(n, ms)| format!("node {n} at {ms:.0} ms")).collect();
            detail.push_str(&format!("; the new leader's entries then overwrote it on {}", gone.join(", ")));
        }
    }
    let properties = vec![
        election.result(e),
        append_only.result(a),
        matching.result(m),
        completeness.result(c),
        machine.result(s),
        stale.result(stale_held),
        service::linearizable(run),
        service::exactly_once(run),
        service::operations_complete(run, params.operation_bound_ms * MS),
    ]
    .into_iter()
    .chain(super::check_membership::check_membership(run))
    .collect();
    let mut report = CheckReport { properties, ..Default::default() };
    report.metrics.insert("messages_per_entry".into(), replication_cost(run, applied.len(), commands.len()));
    let deposed = deposed_entries(run, &led, &committed, &elected, &truncations);
    report.metrics.insert("deposed_entries".into(), Metric::Deposed(deposed).to_value());
    if let Some(snapshots) = snapshot_metric(run) {
        report.metrics.insert("snapshots".into(), snapshots);
    }
    report
}

/// With log compaction: how many snapshots were taken and restored, the largest, and each
/// InstallSnapshot a follower installed (who, from whom, up to which index, how many bytes,
/// when). `None` in a run without snapshots.
fn snapshot_metric(run: &Execution) -> Option<serde_json::Value> {
    let (mut taken, mut restored, mut largest) = (0u64, 0u64, 0u64);
    let mut installed = Vec::new();
    for r in &run.records {
        match r.event_as::<RaftEvent>() {
            Some(RaftEvent::SnapshotTaken(s)) => {
                taken += 1;
                largest = largest.max(s.bytes);
            }
            Some(RaftEvent::SnapshotRestored(_)) => restored += 1,
            Some(RaftEvent::SnapshotInstalled { from, snapshot: s }) => {
                let ms = (run.ms(r.t) * 10.0).round() / 10.0;
                installed.push(json!({ "node": r.node, "from": from, "index": s.index, "bytes": s.bytes, "ms": ms }));
            }
            _ => {}
        }
    }
    (taken + restored > 0 || !installed.is_empty()).then(|| {
        Metric::Other(json!({ "taken": taken, "restored": restored, "largest_bytes": largest, "installed": installed }))
            .to_value()
    })
}

/// Index → the first entry applied there (or a snapshot's last), how, by whom, where.
type Applied = BTreeMap<u64, (EntryId, &'static str, NodeId, EventRef)>;

/// Index → the first snapshot's state digest there, its server and record.
type Snapshots = BTreeMap<u64, (String, NodeId, EventRef)>;

/// State Machine Safety at one index: the first entry applied there (or a snapshot's last) is
/// the one every later application must match.
fn note_applied(
    machine: &mut Verdicts,
    applied: &mut Applied,
    entry: EntryId,
    how: &'static str,
    node: NodeId,
    here: EventRef,
) {
    match applied.get(&entry.index) {
        None => {
            applied.insert(entry.index, (entry, how, node, here));
        }
        Some((first, first_how, other, at)) => {
            machine.judged += 1;
            if first.term != entry.term || first.digest != entry.digest {
                machine.violate(
                    format!(
                        "at index {}: node {other} {first_how} the entry of term {} ({}), node {node} {how} the entry of term {} ({})",
                        entry.index,
                        first.term,
                        short(&first.digest),
                        entry.term,
                        short(&entry.digest)
                    ),
                    vec![at.clone(), here],
                );
            }
        }
    }
}

/// A snapshot taken, installed or restored: it applies its last entry, and its state must be
/// every other snapshot's at its index.
fn note_snapshot(
    machine: &mut Verdicts,
    applied: &mut Applied,
    snapshots: &mut Snapshots,
    snapshot: SnapshotId,
    how: &'static str,
    node: NodeId,
    here: EventRef,
) {
    // Its last entry first: when that differs, the state differs for that reason.
    let last = EntryId { index: snapshot.index, term: snapshot.term, digest: snapshot.digest.clone() };
    note_applied(machine, applied, last, how, node, here.clone());
    match snapshots.get(&snapshot.index) {
        None => {
            snapshots.insert(snapshot.index, (snapshot.state, node, here));
        }
        Some((state, other, at)) => {
            machine.judged += 1;
            if *state != snapshot.state {
                machine.violate(
                    format!(
                        "two snapshots at index {} hold different states: node {other}'s ({}) and node {node}'s ({})",
                        snapshot.index,
                        short(state),
                        short(&snapshot.state)
                    ),
                    vec![at.clone(), here],
                );
            }
        }
    }
}

/// The entries leaders appended in their own term that never committed although a later term
/// had a leader (so their leader was deposed), each with its fate: the logs it was truncated
/// from, and for a client's command where its `(client, seq)` was applied (the client's retry,
/// redone by a later leader). Commands are named from the clients' `request` sends: an entry's
/// digest is its operation's, whatever the term.
fn deposed_entries(
    run: &Execution,
    led: &[(NodeId, EntryId, f64)],
    committed: &BTreeMap<u64, Committed>,
    elected: &BTreeMap<u64, (NodeId, EventRef)>,
    truncations: &Truncations,
) -> DeposedEntries {
    let last_term = elected.keys().next_back().copied().unwrap_or(0);
    let mut requests: BTreeMap<String, Request> = BTreeMap::new();
    let mut applied: BTreeMap<(NodeId, u64), (u64, f64)> = BTreeMap::new();
    for r in &run.records {
        match &r.what {
            What::Send { msg_type, msg, .. } if msg_type == "request" && !run.nodes.contains(&r.node) => {
                if let Some(RequestShown { request }) = msg.decode() {
                    let digest = Entry { term: 0, op: Op::Client(request.clone()) }.digest();
                    requests.entry(digest).or_insert(request);
                }
            }
            _ => {
                if let Some(ServiceEvent::Applied { index, client, seq, .. }) = r.event_as::<ServiceEvent>() {
                    applied.entry((client, seq)).or_insert((index, (run.ms(r.t) * 10.0).round() / 10.0));
                }
            }
        }
    }
    let noop = Entry { term: 0, op: Op::Noop }.digest();
    let mut seen = BTreeSet::new();
    let mut deposed_entries = Vec::new();
    for (leader, id, ms) in led {
        let done = committed.get(&id.index).is_some_and(|c| c.term == id.term && c.digest == id.digest);
        if done || id.term >= last_term || !seen.insert((id.index, id.term)) {
            continue;
        }
        let request = requests.get(&id.digest);
        let op = match request {
            Some(q) => format!("{} {}", q.command.f(), q.command.key()),
            None if id.digest == noop => "no-op".into(),
            None => format!("entry {}", short(&id.digest)),
        };
        deposed_entries.push(DeposedEntry {
            leader: *leader,
            term: id.term,
            index: id.index,
            appended_ms: (*ms * 10.0).round() / 10.0,
            op,
            client: request.map(|q| q.client),
            seq: request.map(|q| q.seq),
            truncated: truncations.get(&(id.index, id.term, id.digest.clone())).cloned().unwrap_or_default(),
            redone: request.and_then(|q| applied.get(&(q.client, q.seq)).copied()),
        });
    }
    DeposedEntries { deposed_entries }
}

/// What replication cost: AppendEntries that carried entries, and the replies to them, per
/// committed entry, against the textbook 2(N−1) per batch (one AppendEntries to each follower
/// and one reply each). Heartbeats (no entries) and their replies are counted apart: in a quiet
/// period they are the whole cost. Rejections are what repairing logs cost.
fn replication_cost(run: &Execution, entries: usize, commands: usize) -> serde_json::Value {
    let (mut carrying, mut heartbeats, mut replies, mut rejections) = (0u64, 0u64, 0u64, 0u64);
    let mut with_entries: BTreeSet<(NodeId, u64)> = BTreeSet::new();
    for r in &run.records {
        match &r.what {
            What::Send { msg_type, msg, .. } if msg_type == "append_entries" => {
                let batch = msg.decode::<AppendShown>().map_or(0, |shown| shown.append.entries.len());
                if batch > 0 {
                    carrying += 1;
                    with_entries.insert((r.node, r.lc));
                } else {
                    heartbeats += 1;
                }
            }
            // One reply per AppendEntries received: the ones that carried entries count.
            What::Recv { from, msg_type, msg_lc }
                if msg_type == "append_entries" && with_entries.contains(&(*from, *msg_lc)) =>
            {
                replies += 1;
            }
            What::Send { msg_type, msg, .. }
                if msg_type == "append_entries_reply"
                    && msg.decode::<ReplyShown>().is_some_and(|shown| !shown.reply.success) =>
            {
                rejections += 1;
            }
            _ => {}
        }
    }
    let per_batch = 2 * (run.nodes.len() as u64).saturating_sub(1);
    let per = |count: u64| if entries == 0 { 0.0 } else { (count as f64 / entries as f64 * 100.0).round() / 100.0 };
    let extra = [("commands", commands as u64), ("heartbeats", heartbeats), ("rejections", rejections)];
    Metric::PerEntry(EntryCost {
        entries,
        messages: carrying + replies,
        measured: per(carrying + replies),
        textbook: format!(
            "2(N−1) = {per_batch} per batch of entries with a stable leader; batching makes it less per entry"
        ),
        textbook_value: Some(per_batch as f64),
        by_type: [("append_entries", per(carrying)), ("append_entries_reply", per(replies))]
            .into_iter()
            .map(|(kind, figure)| (kind.to_string(), figure))
            .collect(),
        extra: extra.into_iter().map(|(name, count)| (name.to_string(), json!(count))).collect(),
    })
    .to_value()
}

/// The parts of traced messages the checker reads, decoded without the rest (a run holds
/// thousands of AppendEntries; their entries are counted, never built).
#[derive(Deserialize)]
struct RequestShown {
    #[serde(rename = "Request")]
    request: Request,
}

#[derive(Deserialize)]
struct AppendShown {
    #[serde(rename = "AppendEntries")]
    append: AppendEntriesShown,
}

#[derive(Deserialize)]
struct AppendEntriesShown {
    entries: Vec<IgnoredAny>,
}

#[derive(Deserialize)]
struct ReplyShown {
    #[serde(rename = "AppendEntriesReply")]
    reply: AppendEntriesReplyShown,
}

#[derive(Deserialize)]
struct AppendEntriesReplyShown {
    success: bool,
}

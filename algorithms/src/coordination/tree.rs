//! The znode tree of a ZooKeeper-like coordination service, as a deterministic state machine that
//! every replica applies the same committed operations to (Hunt et al., "ZooKeeper: wait-free
//! coordination for Internet-scale systems", USENIX ATC 2010, §2).
//!
//! - Znodes have a path (`/app1/p0000000003`), data and a version that each `set` raises; a
//!   `delete` or `set` with an expected version fails on any other (a conditional update).
//! - Persistent znodes live until deleted; ephemeral ones until deleted or until the session that
//!   created them ends. A sequential create appends the parent's next sequence number, ten digits,
//!   to the name. Ephemerals have no children; a znode with children cannot be deleted.
//! - Watches are one-shot: `exists`, `get` and `children` can leave one for the session that
//!   asked; the next change that concerns it fires it once (NodeCreated, NodeDeleted,
//!   NodeDataChanged, NodeChildrenChanged) and removes it. A session's end drops its watches.
//! - Each znode keeps the zxid of its last change (`mzxid`: its creation or last `set`) and of
//!   its children's last change (`pzxid`), so a client that moves to another server can leave its
//!   watches there again ([`Tree::set_watches`], ZooKeeper's SetWatches): those whose znode
//!   changed after the last zxid the client saw fire at once, the others are left as they were.
//!
//! Reads and writes here are pure functions of the tree (BTreeMap everywhere), so replicas that
//! apply the same sequence hold equal trees and fire the same watches in the same order.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A client session's id.
pub type SessionId = u64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Znode {
    pub data: String,
    /// Raised by each `set`.
    pub version: u64,
    /// The session that owns an ephemeral znode; `None` for a persistent one.
    pub owner: Option<SessionId>,
    /// The next sequence number a sequential child gets.
    pub next_seq: u64,
    /// The zxid (packed) of the znode's creation or last `set`.
    #[serde(default)]
    pub mzxid: u64,
    /// The zxid (packed) of the last creation or deletion of one of its children.
    #[serde(default)]
    pub pzxid: u64,
}

/// An operation on the tree, as the service orders it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeOp {
    Create {
        path: String,
        data: String,
        ephemeral: bool,
        sequential: bool,
    },
    /// `version`: the version the znode must have (`None`: any).
    Delete {
        path: String,
        version: Option<u64>,
    },
    Set {
        path: String,
        data: String,
        version: Option<u64>,
    },
    Exists {
        path: String,
        watch: bool,
    },
    Get {
        path: String,
        watch: bool,
    },
    Children {
        path: String,
        watch: bool,
    },
    /// The session ended (closed, or expired): its ephemerals go, its watches are dropped.
    CloseSession,
}

impl TreeOp {
    pub fn is_read(&self) -> bool {
        matches!(self, TreeOp::Exists { .. } | TreeOp::Get { .. } | TreeOp::Children { .. })
    }
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeResult {
    Created {
        path: String,
    },
    Deleted,
    /// A `set` or an `exists` of a present znode: its version after.
    Stat {
        version: u64,
    },
    Data {
        data: String,
        version: u64,
    },
    Children {
        names: Vec<String>,
    },
    Closed {
        ephemerals: Vec<String>,
    },
    NoNode {
        path: String,
    },
    NodeExists {
        path: String,
    },
    BadVersion {
        path: String,
        expected: u64,
        actual: u64,
    },
    NotEmpty {
        path: String,
    },
    /// An ephemeral znode cannot have children.
    NoChildrenForEphemerals {
        path: String,
    },
    BadPath {
        path: String,
        why: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchKind {
    /// Left by `exists` and `get`: fired by creation, a data change or deletion.
    Data,
    /// Left by `children`: fired by a child's creation or deletion, or the znode's deletion.
    Children,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
}

/// The watches a client left before it moved, as it sends them to its new server (ZooKeeper's
/// SetWatches): by path, in three sorts, for the tree to tell what changed since.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WatchList {
    /// Left by a `get` or `exists` that found the znode: fire on any change.
    pub data: Vec<String>,
    /// Left by an `exists` that found no znode: fire on its creation.
    pub exist: Vec<String>,
    /// Left by `children`.
    pub child: Vec<String>,
}

impl WatchList {
    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.exist.is_empty() && self.child.is_empty()
    }

    pub fn len(&self) -> usize {
        self.data.len() + self.exist.len() + self.child.len()
    }
}

/// A fired watch, for the session that left it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WatchEvent {
    pub session: SessionId,
    pub path: String,
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    /// By path; the root `/` is always there.
    #[serde(with = "crate::service::kv::pairs")]
    nodes: BTreeMap<String, Znode>,
    /// The watches left, by path: (kind, session).
    #[serde(with = "crate::service::kv::pairs")]
    watches: BTreeMap<String, BTreeSet<(WatchKind, SessionId)>>,
    /// The zxid (packed) of the write being applied, stamped on what it changes.
    #[serde(default)]
    zxid: u64,
}

impl Default for Tree {
    fn default() -> Self {
        let root = Znode { data: String::new(), version: 0, owner: None, next_seq: 0, mzxid: 0, pzxid: 0 };
        Tree { nodes: BTreeMap::from([("/".to_string(), root)]), watches: BTreeMap::new(), zxid: 0 }
    }
}

/// The parent of a checked path (`/a/b` → `/a`, `/a` → `/`).
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

/// A path is `/` or `/` followed by non-empty names without `/`.
fn check_path(path: &str) -> Result<(), String> {
    if path == "/" {
        return Ok(());
    }
    if !path.starts_with('/') {
        return Err("a path starts with /".into());
    }
    if path[1..].split('/').any(str::is_empty) {
        return Err("a path has no empty name (no // and no trailing /)".into());
    }
    Ok(())
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    pub fn get(&self, path: &str) -> Option<&Znode> {
        self.nodes.get(path)
    }

    /// The names of `path`'s children, in order.
    pub fn children(&self, path: &str) -> Vec<String> {
        let prefix = if path == "/" { "/".to_string() } else { format!("{path}/") };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| p.len() > prefix.len() && !p[prefix.len()..].contains('/'))
            .map(|(p, _)| p[prefix.len()..].to_string())
            .collect()
    }

    /// Applies the committed write `op` of transaction `zxid` (packed): as [`Tree::apply`], and
    /// what it changes carries `zxid` as its `mzxid` or `pzxid`.
    pub fn apply_at(&mut self, zxid: u64, session: SessionId, op: &TreeOp) -> (TreeResult, Vec<WatchEvent>) {
        self.zxid = zxid;
        self.apply(session, op)
    }

    /// ZooKeeper's SetWatches: `session`, which has seen everything up to `seen` (packed), leaves
    /// `watches` here again. A data watch fires at once if its znode is gone (NodeDeleted) or
    /// changed after `seen` (NodeDataChanged); an exist watch if its znode is there now
    /// (NodeCreated); a child watch if its znode is gone or its children changed after `seen`
    /// (NodeChildrenChanged). Each fired one is returned with the zxid of the change when the tree
    /// has it (`None` for a deletion: a deleted znode keeps nothing); the others are left.
    pub fn set_watches(
        &mut self,
        session: SessionId,
        seen: u64,
        watches: &WatchList,
    ) -> Vec<(WatchEvent, Option<u64>)> {
        let mut fired = Vec::new();
        let mut fire =
            |path: &str, kind, zxid| fired.push((WatchEvent { session, path: path.to_string(), kind }, zxid));
        for path in &watches.data {
            match self.nodes.get(path) {
                None => fire(path, EventKind::NodeDeleted, None),
                Some(n) if n.mzxid > seen => fire(path, EventKind::NodeDataChanged, Some(n.mzxid)),
                Some(_) => self.watch(path, WatchKind::Data, session),
            }
        }
        for path in &watches.exist {
            match self.nodes.get(path) {
                Some(n) => fire(path, EventKind::NodeCreated, Some(n.mzxid)),
                None => self.watch(path, WatchKind::Data, session),
            }
        }
        for path in &watches.child {
            match self.nodes.get(path) {
                None => fire(path, EventKind::NodeDeleted, None),
                Some(n) if n.pzxid > seen => fire(path, EventKind::NodeChildrenChanged, Some(n.pzxid)),
                Some(_) => self.watch(path, WatchKind::Children, session),
            }
        }
        fired
    }

    /// Applies `op` for `session`: what it returns, and the watches it fired, in order.
    pub fn apply(&mut self, session: SessionId, op: &TreeOp) -> (TreeResult, Vec<WatchEvent>) {
        let mut fired = Vec::new();
        let result = match op {
            TreeOp::Create { path, data, ephemeral, sequential } => {
                self.create(session, path, data, *ephemeral, *sequential, &mut fired)
            }
            TreeOp::Delete { path, version } => self.delete(path, *version, &mut fired),
            TreeOp::Set { path, data, version } => self.set(path, data, *version, &mut fired),
            TreeOp::Exists { path, watch } => {
                if *watch {
                    self.watch(path, WatchKind::Data, session);
                }
                match self.nodes.get(path) {
                    Some(n) => TreeResult::Stat { version: n.version },
                    None => TreeResult::NoNode { path: path.clone() },
                }
            }
            TreeOp::Get { path, watch } => match self.nodes.get(path) {
                Some(n) => {
                    let result = TreeResult::Data { data: n.data.clone(), version: n.version };
                    if *watch {
                        self.watch(path, WatchKind::Data, session);
                    }
                    result
                }
                None => TreeResult::NoNode { path: path.clone() },
            },
            TreeOp::Children { path, watch } => match self.nodes.contains_key(path) {
                true => {
                    if *watch {
                        self.watch(path, WatchKind::Children, session);
                    }
                    TreeResult::Children { names: self.children(path) }
                }
                false => TreeResult::NoNode { path: path.clone() },
            },
            TreeOp::CloseSession => self.close(session, &mut fired),
        };
        (result, fired)
    }

    fn watch(&mut self, path: &str, kind: WatchKind, session: SessionId) {
        self.watches.entry(path.to_string()).or_default().insert((kind, session));
    }

    /// Fires (and removes) the watches of `kind` on `path`.
    fn fire(&mut self, path: &str, kind: WatchKind, event: EventKind, fired: &mut Vec<WatchEvent>) {
        let Some(set) = self.watches.get_mut(path) else { return };
        let due: Vec<SessionId> = set.iter().filter(|(k, _)| *k == kind).map(|(_, s)| *s).collect();
        set.retain(|(k, _)| *k != kind);
        if set.is_empty() {
            self.watches.remove(path);
        }
        fired.extend(due.into_iter().map(|session| WatchEvent { session, path: path.to_string(), kind: event }));
    }

    fn create(
        &mut self,
        session: SessionId,
        path: &str,
        data: &str,
        ephemeral: bool,
        sequential: bool,
        fired: &mut Vec<WatchEvent>,
    ) -> TreeResult {
        if let Err(why) = check_path(path) {
            return TreeResult::BadPath { path: path.into(), why };
        }
        if path == "/" {
            return TreeResult::NodeExists { path: path.into() };
        }
        let up = parent(path).to_string();
        let Some(p) = self.nodes.get_mut(&up) else { return TreeResult::NoNode { path: up } };
        if p.owner.is_some() {
            return TreeResult::NoChildrenForEphemerals { path: up };
        }
        let path = if sequential {
            let name = format!("{path}{:010}", p.next_seq);
            p.next_seq += 1;
            name
        } else {
            path.to_string()
        };
        if self.nodes.contains_key(&path) {
            return TreeResult::NodeExists { path };
        }
        let owner = ephemeral.then_some(session);
        let zxid = self.zxid;
        if let Some(p) = self.nodes.get_mut(&up) {
            p.pzxid = zxid;
        }
        let node = Znode { data: data.into(), version: 0, owner, next_seq: 0, mzxid: zxid, pzxid: zxid };
        self.nodes.insert(path.clone(), node);
        self.fire(&path, WatchKind::Data, EventKind::NodeCreated, fired);
        self.fire(&up, WatchKind::Children, EventKind::NodeChildrenChanged, fired);
        TreeResult::Created { path }
    }

    fn delete(&mut self, path: &str, version: Option<u64>, fired: &mut Vec<WatchEvent>) -> TreeResult {
        let Some(n) = self.nodes.get(path) else { return TreeResult::NoNode { path: path.into() } };
        if path == "/" {
            return TreeResult::BadPath { path: path.into(), why: "the root cannot be deleted".into() };
        }
        if let Some(expected) = version.filter(|v| *v != n.version) {
            return TreeResult::BadVersion { path: path.into(), expected, actual: n.version };
        }
        if !self.children(path).is_empty() {
            return TreeResult::NotEmpty { path: path.into() };
        }
        self.nodes.remove(path);
        let zxid = self.zxid;
        if let Some(p) = self.nodes.get_mut(parent(path)) {
            p.pzxid = zxid;
        }
        self.fire(path, WatchKind::Data, EventKind::NodeDeleted, fired);
        self.fire(path, WatchKind::Children, EventKind::NodeDeleted, fired);
        self.fire(parent(path), WatchKind::Children, EventKind::NodeChildrenChanged, fired);
        TreeResult::Deleted
    }

    fn set(&mut self, path: &str, data: &str, version: Option<u64>, fired: &mut Vec<WatchEvent>) -> TreeResult {
        let Some(n) = self.nodes.get_mut(path) else { return TreeResult::NoNode { path: path.into() } };
        if let Some(expected) = version.filter(|v| *v != n.version) {
            return TreeResult::BadVersion { path: path.into(), expected, actual: n.version };
        }
        n.data = data.into();
        n.version += 1;
        n.mzxid = self.zxid;
        let version = n.version;
        self.fire(path, WatchKind::Data, EventKind::NodeDataChanged, fired);
        TreeResult::Stat { version }
    }

    /// The session's ephemerals are deleted (firing their watches), its watches dropped.
    fn close(&mut self, session: SessionId, fired: &mut Vec<WatchEvent>) -> TreeResult {
        let ephemerals: Vec<String> =
            self.nodes.iter().filter(|(_, n)| n.owner == Some(session)).map(|(p, _)| p.clone()).collect();
        for path in &ephemerals {
            self.delete(path, None, fired);
        }
        fired.retain(|e| e.session != session);
        for set in self.watches.values_mut() {
            set.retain(|(_, s)| *s != session);
        }
        self.watches.retain(|_, set| !set.is_empty());
        TreeResult::Closed { ephemerals }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(path: &str, ephemeral: bool, sequential: bool) -> TreeOp {
        TreeOp::Create { path: path.into(), data: String::new(), ephemeral, sequential }
    }

    fn created(path: &str) -> TreeResult {
        TreeResult::Created { path: path.into() }
    }

    #[test]
    fn sequential_children_get_the_parents_next_number_and_list_in_order() {
        let mut t = Tree::new();
        assert_eq!(t.apply(1, &create("/app1", false, false)).0, created("/app1"));
        assert_eq!(t.apply(1, &create("/app1/p", true, true)).0, created("/app1/p0000000000"));
        assert_eq!(t.apply(2, &create("/app1/p", true, true)).0, created("/app1/p0000000001"));
        assert_eq!(t.apply(2, &create("/app1/q", false, false)).0, created("/app1/q"));
        let names = t.apply(3, &TreeOp::Children { path: "/app1".into(), watch: false }).0;
        assert_eq!(names, TreeResult::Children { names: vec!["p0000000000".into(), "p0000000001".into(), "q".into()] });
        assert_eq!(
            t.apply(1, &create("/app1/p0000000000/x", false, false)).0,
            TreeResult::NoChildrenForEphemerals { path: "/app1/p0000000000".into() }
        );
        assert_eq!(t.apply(1, &create("/nope/x", false, false)).0, TreeResult::NoNode { path: "/nope".into() });
        assert_eq!(t.apply(1, &create("/app1", false, false)).0, TreeResult::NodeExists { path: "/app1".into() });
        let bad = t.apply(1, &create("app1//", false, false)).0;
        assert!(matches!(bad, TreeResult::BadPath { .. }), "{bad:?}");
    }

    #[test]
    fn versioned_set_and_delete_fail_on_another_version() {
        let mut t = Tree::new();
        t.apply(1, &create("/c", false, false));
        let set = |data: &str, version| TreeOp::Set { path: "/c".into(), data: data.into(), version };
        assert_eq!(t.apply(1, &set("15", Some(0))).0, TreeResult::Stat { version: 1 });
        // The counter race: both read version 1 and write 16; the second fails.
        assert_eq!(t.apply(1, &set("16", Some(1))).0, TreeResult::Stat { version: 2 });
        assert_eq!(
            t.apply(2, &set("16", Some(1))).0,
            TreeResult::BadVersion { path: "/c".into(), expected: 1, actual: 2 }
        );
        let get = t.apply(2, &TreeOp::Get { path: "/c".into(), watch: false }).0;
        assert_eq!(get, TreeResult::Data { data: "16".into(), version: 2 });
        let delete = |version| TreeOp::Delete { path: "/c".into(), version };
        assert_eq!(
            t.apply(1, &delete(Some(1))).0,
            TreeResult::BadVersion { path: "/c".into(), expected: 1, actual: 2 }
        );
        assert_eq!(t.apply(1, &delete(Some(2))).0, TreeResult::Deleted);
        assert_eq!(t.apply(1, &delete(None)).0, TreeResult::NoNode { path: "/c".into() });
    }

    #[test]
    fn watches_fire_once_for_the_session_that_left_them() {
        let mut t = Tree::new();
        t.apply(1, &create("/lock", false, false));
        // Session 2 watches for /lock/a to appear, session 3 the children of /lock.
        assert_eq!(
            t.apply(2, &TreeOp::Exists { path: "/lock/a".into(), watch: true }).0,
            TreeResult::NoNode { path: "/lock/a".into() }
        );
        t.apply(3, &TreeOp::Children { path: "/lock".into(), watch: true });
        let (_, fired) = t.apply(1, &create("/lock/a", true, false));
        let event = |session, path: &str, kind| WatchEvent { session, path: path.into(), kind };
        assert_eq!(
            fired,
            vec![event(2, "/lock/a", EventKind::NodeCreated), event(3, "/lock", EventKind::NodeChildrenChanged)]
        );
        // One-shot: the next change fires nothing.
        assert_eq!(t.apply(1, &create("/lock/b", true, false)).1, vec![]);
        t.apply(2, &TreeOp::Get { path: "/lock/a".into(), watch: true });
        let set = TreeOp::Set { path: "/lock/a".into(), data: "x".into(), version: None };
        assert_eq!(t.apply(1, &set).1, vec![event(2, "/lock/a", EventKind::NodeDataChanged)]);
    }

    #[test]
    fn a_sessions_end_deletes_its_ephemerals_firing_watches_and_drops_its_own_watches() {
        let mut t = Tree::new();
        t.apply(1, &create("/members", false, false));
        t.apply(7, &create("/members/n", true, true));
        t.apply(7, &create("/members/keep", false, false));
        t.apply(8, &TreeOp::Children { path: "/members".into(), watch: true });
        t.apply(7, &TreeOp::Exists { path: "/members/keep".into(), watch: true });
        let (result, fired) = t.apply(7, &TreeOp::CloseSession);
        assert_eq!(result, TreeResult::Closed { ephemerals: vec!["/members/n0000000000".into()] });
        let left = WatchEvent { session: 8, path: "/members".into(), kind: EventKind::NodeChildrenChanged };
        assert_eq!(fired, vec![left]);
        assert_eq!(t.children("/members"), vec!["keep".to_string()]);
        let delete = TreeOp::Delete { path: "/members/keep".into(), version: None };
        assert_eq!(t.apply(1, &delete).1, vec![], "session 7's watch went with it");
    }

    #[test]
    fn a_znode_with_children_is_not_deleted() {
        let mut t = Tree::new();
        t.apply(1, &create("/a", false, false));
        t.apply(1, &create("/a/b", false, false));
        let delete = TreeOp::Delete { path: "/a".into(), version: None };
        assert_eq!(t.apply(1, &delete).0, TreeResult::NotEmpty { path: "/a".into() });
        assert_eq!(t.children("/"), vec!["a".to_string()]);
    }

    #[test]
    fn set_watches_fires_at_once_what_changed_after_the_clients_zxid_and_leaves_the_rest() {
        let mut t = Tree::new();
        t.apply_at(1, 1, &create("/a", false, false));
        t.apply_at(2, 1, &create("/b", false, false));
        t.apply_at(3, 1, &create("/b/x", false, false));
        t.apply_at(4, 1, &create("/gone", false, false));
        assert_eq!((t.get("/a").unwrap().mzxid, t.get("/b").unwrap().pzxid), (1, 3));
        // The client saw up to 4; then /a is set (5), /gone deleted (6), /new created (7).
        t.apply_at(5, 1, &TreeOp::Set { path: "/a".into(), data: "v".into(), version: None });
        t.apply_at(6, 1, &TreeOp::Delete { path: "/gone".into(), version: None });
        t.apply_at(7, 1, &create("/new", false, false));
        let list = WatchList {
            data: vec!["/a".into(), "/b".into(), "/gone".into()],
            exist: vec!["/new".into(), "/none".into()],
            child: vec!["/b".into(), "/gone".into()],
        };
        let fired = t.set_watches(9, 4, &list);
        let event = |path: &str, kind| WatchEvent { session: 9, path: path.into(), kind };
        assert_eq!(
            fired,
            vec![
                (event("/a", EventKind::NodeDataChanged), Some(5)),
                (event("/gone", EventKind::NodeDeleted), None),
                (event("/new", EventKind::NodeCreated), Some(7)),
                (event("/gone", EventKind::NodeDeleted), None),
            ]
        );
        // Left: /b's data and children, /none's creation; they fire on the next change.
        let (_, fired) = t.apply_at(8, 1, &create("/b/y", false, false));
        assert_eq!(fired, vec![event("/b", EventKind::NodeChildrenChanged)]);
        assert_eq!(t.apply_at(9, 1, &create("/none", false, false)).1, vec![event("/none", EventKind::NodeCreated)]);
        let set = TreeOp::Set { path: "/b".into(), data: "w".into(), version: None };
        assert_eq!(t.apply_at(10, 1, &set).1, vec![event("/b", EventKind::NodeDataChanged)]);
        // From a client that saw everything, nothing fires; the watches are left.
        let all = WatchList { data: vec!["/a".into()], exist: vec![], child: vec!["/b".into()] };
        assert_eq!(t.set_watches(9, 10, &all), vec![]);
        assert_eq!(
            t.apply_at(11, 1, &TreeOp::Delete { path: "/a".into(), version: None }).1,
            vec![event("/a", EventKind::NodeDeleted)]
        );
    }
}

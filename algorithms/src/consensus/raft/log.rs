//! Raft's log: entries numbered from 1, each with the term in which a leader created it.
//!
//! Index 0 is the empty prefix (term 0), so "the entry before the first" needs no special case:
//! every log contains (0, 0), and the consistency check of an AppendEntries at index 1 always
//! passes.
//!
//! After log compaction (§7) the log begins after a snapshot: `offset` is the snapshot's
//! lastIncludedIndex and `offset_term` its lastIncludedTerm, which stands in for "the entry before
//! the first" exactly as (0, 0) does without a snapshot. Every index goes through `offset`; an
//! index at or below it is compacted (`get` is `None`; `term_at` knows only the offset itself).

use crate::core::process::NodeId;
use crate::service::Request;
use serde::{Deserialize, Serialize};

/// What an entry asks the state machine to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// The entry a new leader appends at the start of its term (§8): committing it commits every
    /// earlier entry, and tells the leader which entries are committed.
    Noop,
    /// A client's command.
    Client(Request),
    /// A configuration (thesis §4.1): the servers, ascending, whose majorities decide elections
    /// and commitment from the moment the entry is in a log, committed or not.
    Config { members: Vec<NodeId> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub term: u64,
    pub op: Op,
}

impl Entry {
    /// A short, stable fingerprint of the operation (FNV-1a over its MessagePack), so traces can
    /// tell entries apart without carrying whole commands.
    pub fn digest(&self) -> String {
        let bytes = rmp_serde::to_vec_named(&self.op).expect("entries always encode");
        format!("{:016x}", fnv(&bytes))
    }
}

/// FNV-1a, 64 bits: a stable fingerprint (no std hasher is stable across builds).
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// The log as a server holds it (and persists it, in `Durable`). Only the entries are encoded:
/// the offset is the persisted snapshot's, restored from it with [`Log::rebase`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Log {
    entries: Vec<Entry>,
    #[serde(skip)]
    offset: u64,
    #[serde(skip)]
    offset_term: u64,
}

impl Log {
    pub fn from_entries(entries: Vec<Entry>) -> Log {
        Log { entries, offset: 0, offset_term: 0 }
    }

    /// The same entries, said to follow a snapshot that ends at `(offset, offset_term)`.
    pub fn rebase(self, offset: u64, offset_term: u64) -> Log {
        Log { offset, offset_term, ..self }
    }

    /// The snapshot's lastIncludedIndex (0 without one): entries at or below it are compacted.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The entries held, past the offset.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn last_index(&self) -> u64 {
        self.offset + self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.offset_term, |e| e.term)
    }

    /// The entry at `index` (1-based); `None` at or below the offset and past the end.
    pub fn get(&self, index: u64) -> Option<&Entry> {
        let i = index.checked_sub(self.offset + 1)?;
        self.entries.get(i as usize)
    }

    /// The term of the entry at `index`: the offset's term at the offset (0 for index 0 without
    /// a snapshot), `None` below it (compacted) and past the end.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.offset {
            Some(self.offset_term)
        } else {
            self.get(index).map(|e| e.term)
        }
    }

    /// Discards the entries up to `index` (at most the last), which a snapshot now covers.
    pub fn compact(&mut self, index: u64) {
        if index <= self.offset {
            return;
        }
        let index = index.min(self.last_index());
        let term = self.term_at(index).expect("index is in the log");
        self.entries.drain(..(index - self.offset) as usize);
        self.offset = index;
        self.offset_term = term;
    }

    /// InstallSnapshot (§7), for a snapshot past the offset: if an entry at the snapshot's
    /// `(index, term)` is here, the entries after it are kept; otherwise the whole log goes.
    /// Returns the entries deleted past `index` (those up to it the snapshot covers).
    pub fn install(&mut self, index: u64, term: u64) -> Vec<Entry> {
        debug_assert!(index > self.offset, "a snapshot is installed only past the offset");
        let removed = if self.matches(index, term) { Vec::new() } else { self.truncate_from(index + 1) };
        let covered = index.saturating_sub(self.offset).min(self.entries.len() as u64);
        self.entries.drain(..covered as usize);
        self.offset = index;
        self.offset_term = term;
        removed
    }

    /// Whether the log has an entry at `index` whose term is `term` (the consistency check).
    pub fn matches(&self, index: u64, term: u64) -> bool {
        self.term_at(index) == Some(term)
    }

    /// §5.4.1: whether a candidate whose log ends at `(last_term, last_index)` is at least as up to
    /// date as this log. A log is at least as up to date as `(last_term, last_index)` if its last term is
    /// higher, or equal with a last index at least as long. A voter grants its vote only to a
    /// candidate whose log is at least as up to date as its own.
    pub fn admits_candidate(&self, last_term: u64, last_index: u64) -> bool {
        (self.last_term(), self.last_index()) <= (last_term, last_index)
    }

    pub fn push(&mut self, entry: Entry) -> u64 {
        self.entries.push(entry);
        self.last_index()
    }

    /// Deletes the entry at `from` and all that follow it; returns what was deleted, from `from` on.
    /// Compacted entries are never deleted: `from` at or below the offset deletes from just past it.
    pub fn truncate_from(&mut self, from: u64) -> Vec<Entry> {
        let keep = from.saturating_sub(1).saturating_sub(self.offset) as usize;
        if keep >= self.entries.len() {
            return Vec::new();
        }
        self.entries.split_off(keep)
    }

    /// Up to `max` entries from `from` on, for an AppendEntries; `from` past the offset.
    pub fn slice(&self, from: u64, max: usize) -> Vec<Entry> {
        let start = from.saturating_sub(self.offset + 1) as usize;
        self.entries.iter().skip(start).take(max).cloned().collect()
    }

    /// The first index of the run of entries of `term` that contains `index` (the conflict hint),
    /// no lower than just past the offset.
    pub fn first_index_of_term(&self, index: u64) -> u64 {
        let term = self.term_at(index);
        let mut first = index;
        while first > self.offset + 1 && self.term_at(first - 1) == term {
            first -= 1;
        }
        first
    }

    /// The last index whose entry has `term`, if the log holds any entry of that term.
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        self.entries.iter().rposition(|e| e.term == term).map(|i| self.offset + i as u64 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(terms: &[u64]) -> Log {
        Log::from_entries(terms.iter().map(|t| Entry { term: *t, op: Op::Noop }).collect())
    }

    #[test]
    fn indices_start_at_one_and_index_zero_is_the_empty_prefix() {
        let l = log(&[1, 1, 2]);
        assert_eq!((l.last_index(), l.last_term()), (3, 2));
        assert_eq!((l.term_at(0), l.term_at(1), l.term_at(3), l.term_at(4)), (Some(0), Some(1), Some(2), None));
        assert!(l.matches(0, 0) && l.matches(3, 2) && !l.matches(3, 1) && !l.matches(4, 2));
        assert!(log(&[]).matches(0, 0));
    }

    #[test]
    fn up_to_date_compares_the_last_term_first_then_the_length() {
        let l = log(&[1, 2]);
        assert!(l.admits_candidate(3, 1), "a higher last term wins over a longer log");
        assert!(l.admits_candidate(2, 2), "equal logs are as up to date");
        assert!(!l.admits_candidate(2, 1), "same last term, shorter log");
        assert!(!l.admits_candidate(1, 5), "a lower last term loses however long");
    }

    #[test]
    fn truncation_returns_what_it_deleted_and_hints_find_term_boundaries() {
        let mut l = log(&[1, 1, 2, 2, 2, 3]);
        assert_eq!(l.first_index_of_term(5), 3);
        assert_eq!(l.first_index_of_term(1), 1);
        assert_eq!(l.last_index_of_term(2), Some(5));
        assert_eq!(l.last_index_of_term(4), None);
        assert_eq!(l.slice(5, 10).len(), 2);
        assert_eq!(l.slice(2, 2), log(&[1, 2]).entries);
        assert_eq!(l.truncate_from(4).len(), 3);
        assert_eq!(l, log(&[1, 1, 2]));
        assert!(l.truncate_from(9).is_empty());
    }

    #[test]
    fn every_index_goes_through_the_offset_after_compaction() {
        let mut l = log(&[1, 1, 2, 2, 3]);
        l.compact(2);
        assert_eq!((l.offset(), l.len(), l.last_index(), l.last_term()), (2, 3, 5, 3));
        assert_eq!((l.term_at(1), l.term_at(2), l.term_at(3), l.term_at(6)), (None, Some(1), Some(2), None));
        assert!(l.get(2).is_none() && l.get(3).is_some() && l.matches(2, 1) && !l.matches(1, 1));
        assert_eq!(l.slice(3, 9).len(), 3);
        assert_eq!(l.slice(5, 9), vec![Entry { term: 3, op: Op::Noop }]);
        assert_eq!(l.first_index_of_term(4), 3, "the hint stops past the offset");
        assert_eq!(l.first_index_of_term(5), 5);
        assert_eq!(l.last_index_of_term(2), Some(4));
        assert_eq!(l.truncate_from(1).len(), 3, "compacted entries are never deleted");
        assert_eq!((l.last_index(), l.last_term()), (2, 1), "the offset stands for the entry before the first");
        l.compact(1);
        assert_eq!(l.offset(), 2, "compacting below the offset changes nothing");
        let mut whole = log(&[1, 2]);
        whole.compact(2);
        assert!(whole.is_empty());
        assert_eq!((whole.last_index(), whole.last_term()), (2, 2));
        assert!(whole.matches(2, 2) && whole.admits_candidate(2, 2) && !whole.admits_candidate(1, 9));
    }

    #[test]
    fn installing_keeps_a_suffix_that_matches_and_discards_one_that_does_not() {
        let mut l = log(&[1, 1, 2, 2]);
        assert!(l.install(2, 1).is_empty());
        assert_eq!((l.offset(), l.last_index(), l.len()), (2, 4, 2), "entries 3 and 4 follow the snapshot");
        let mut l = log(&[1, 1, 2, 2]);
        let removed = l.install(3, 3);
        assert_eq!(removed, vec![Entry { term: 2, op: Op::Noop }], "index 4 followed a conflicting entry");
        assert_eq!((l.offset(), l.last_index(), l.last_term(), l.len()), (3, 3, 3, 0));
        let mut short = log(&[1]);
        assert!(short.install(5, 2).is_empty());
        assert_eq!((short.offset(), short.last_index(), short.last_term()), (5, 5, 2));
        let restored = Log::from_entries(vec![Entry { term: 4, op: Op::Noop }]).rebase(5, 2);
        assert_eq!((restored.last_index(), restored.term_at(5), restored.term_at(6)), (6, Some(2), Some(4)));
    }

    #[test]
    fn digests_tell_operations_apart_and_are_stable() {
        use crate::service::{Command, Request};
        let put = |v: &str| Entry {
            term: 1,
            op: Op::Client(Request { client: 6, seq: 1, command: Command::Put { key: "x".into(), value: v.into() } }),
        };
        assert_eq!(put("1").digest(), put("1").digest());
        assert_ne!(put("1").digest(), put("2").digest());
        assert_ne!(put("1").digest(), Entry { term: 1, op: Op::Noop }.digest());
    }
}

//! The families' event vocabulary: what the trace lines of every algorithm of a family mean
//! (`elected`, `leader`, `enter_cs`, `token`, ...), as types.
//!
//! The vocabulary sits here, below the families, because both sides of the trace read it: the
//! algorithms write it (`ctx.emit(&ElectionEvent::leader(3))`), and the checkers, the report and
//! the authors of third-party nodes read it back (`record.event_as::<ElectionEvent>()`). Kept
//! apart from the family checks ([`super::election`], [`super::mutex`]) so those files stay about
//! judging, and so one folder answers "what does this trace line mean" for every family. The
//! families re-export their own (`crate::election::ElectionEvent`), which keeps the dependency
//! one-way: the families import `check`, and `check` imports only `core` and `faults`.
//!
//! An algorithm's own events (Raft's `term`, Maekawa's `vote`) sit beside the algorithm.

pub mod broadcast;
pub mod election;
pub mod mutex;

pub use broadcast::BroadcastEvent;
pub use election::ElectionEvent;
pub use mutex::MutexEvent;

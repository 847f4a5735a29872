//! Mutual exclusion over named resources: the algorithms on one shared host and workload.
//!
//! [`host`] runs the workload and the `acquire`/`release` commands and traces `request`,
//! `enter_cs` and `exit_cs` ([`MutexEvent`]); each algorithm file holds only its rules ([`host::MutexRules`]). The
//! shared checks are in [`crate::check::mutex`].

pub mod central;
pub mod host;
pub mod lamport;
pub mod maekawa;
pub mod raymond;
pub mod ricart_agrawala;
pub mod suzuki_kasami;
pub mod token_ring;
pub mod workload;

/// The family's events live with the checks that read them ([`crate::check::events`]); the
/// family keeps its old paths (`mutex::event::Request`, `mutex::MutexEvent`).
pub use crate::check::events::mutex as event;
pub use event::MutexEvent;

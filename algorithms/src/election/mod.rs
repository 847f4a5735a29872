//! Leader election: who leads, and how the others come to agree on it.
//!
//! Every algorithm here reports its view with `leader`/`leader_lost` events ([`ElectionEvent`]),
//! so the shared checks in [`crate::check::election`] judge agreement, election latency and cost
//! for all of them.

pub mod bully;
pub mod lease;
pub mod raft;
pub mod randomized;
pub mod ring;
pub mod timestamp;

/// The family's events live with the checks that read them ([`crate::check::events`]); the
/// family keeps its old paths (`election::event::Elected`, `election::ElectionEvent`).
pub use crate::check::events::election as event;
pub use event::ElectionEvent;

/// `detector = "timeout" | "phi"`, the failure detector bully and the rings suspect their
/// leader with.
pub use crate::detection::leader::DetectorChoice;

//! Broadcast: delivering every member's messages to every member, here in one total order.
//!
//! [`sequencer`]: a sequencer numbers the messages; it is the leader of an election embedded in
//! every member, and a new one recovers the sequence from a majority.

pub mod sequencer;

/// The family's events live with the checks that read them ([`crate::check::events`]).
pub use crate::check::events::broadcast as event;
pub use event::BroadcastEvent;

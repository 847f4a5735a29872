//! Self-stabilizing algorithms: from any state, however it was reached, they return to a
//! legitimate one by themselves and stay there.
//!
//! Their fault is `corrupt` ([`crate::faults::Action::Corrupt`]), which sets a node's state to
//! arbitrary values; they opt in to it with [`crate::Process::on_corrupt`]. Their checkers judge
//! convergence after every corruption (and from the arbitrary state each process starts in) and
//! closure afterwards.

pub mod dijkstra;

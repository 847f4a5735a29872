//! The replication family: services that clients use through the shared client of
//! [`crate::service`], judged by the shared checks of [`crate::check::service`] (linearizable
//! history, exactly-once application, operations completing with a connected majority).
//!
//! [`single`] is where the course starts: one server and no replication at all, the single point
//! of failure the replicated services remove.

pub mod quorum;
pub mod single;

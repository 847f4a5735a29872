//! The core every algorithm and both hosts share: the sans-IO process interface and the trace
//! format.

pub mod process;
pub mod trace;

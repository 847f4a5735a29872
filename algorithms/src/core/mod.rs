//! The core every algorithm and both hosts share: the sans-IO process interface, the trace
//! format, and typed algorithm events.

pub mod event;
pub mod packed_json;
pub mod process;
pub mod trace;

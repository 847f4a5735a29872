//! The clusterlab node: one OS process, an actix System, one actor per algorithm instance, one
//! transport actor owning the TCP connections, a trace writer and a control endpoint.
//!
//! The library part holds what the orchestrator shares with the node: the wire format, the
//! control protocol, the node config and the monotonic clock, and the trace writer (which the
//! transport benchmark times on its own).

pub mod config;
pub mod control;
pub mod durable;
pub mod trace_file;
pub mod tracer;
pub mod wire;

/// Nanoseconds on CLOCK_MONOTONIC: one clock for every process of a host, so traces written by
/// different nodes (and the orchestrator's fault log) can be merged by time.
pub fn monotonic_ns() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is always readable");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

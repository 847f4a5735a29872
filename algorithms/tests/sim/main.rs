//! The simulator as a host (`host`), and what holds for the whole catalogue (`catalogue`).

#[path = "../common/mod.rs"]
mod common;

mod catalogue;
mod host;

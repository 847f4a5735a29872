//! Faults, shared by the real orchestrator and the simulator so that one `[[faults]]` list (or one
//! live command) means the same thing in `orchestrator run`, `orchestrator up` and `orchestrator sim`.
//!
//! - [`action`]: a `[[faults]]` entry and the [`Action`] it names;
//! - [`target`]: which node a process fault hits;
//! - [`partition`]: partition shapes and the links they cut;
//! - [`link`]: per-message link faults and delay distributions;
//! - [`nemesis`]: seeded plans of random faults;
//! - [`record`]: a fault as applied, in `orchestrator.jsonl`;
//! - [`engine`]: the one place an action becomes operations on a cluster, real or simulated.

pub mod action;
pub mod engine;
pub mod link;
pub mod nemesis;
pub mod partition;
pub mod record;
pub mod target;

pub use action::{unsupported_corrupt, Action, FaultSpec};
pub use engine::{apply, recover, Applied, ClusterOps, FaultState, NetworkFaults, Partition, Recovered};
pub use link::{CutMode, Delay, LinkSpec};
pub use nemesis::{Nemesis, NemesisKind};
pub use partition::{Cut, PartitionSpec};
pub use record::{parse_fault_lines, read_fault_lines, AppliedFault, FaultRecord};
pub use target::{agreed_leader, Target};

//! `orchestrator.jsonl`: every fault a session applied, with its monotonic time.

use algorithms::faults::{AppliedFault, FaultRecord};
use anyhow::{Context, Result};
use node::monotonic_ns;
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// The orchestrator's own event log, `orchestrator.jsonl`: one fault record a line.
pub struct FaultLog {
    file: File,
    pub records: Vec<FaultRecord>,
}

impl FaultLog {
    pub fn create(path: &Path) -> Result<FaultLog> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(FaultLog { file, records: Vec::new() })
    }

    pub fn record(&mut self, fault: AppliedFault) {
        let record = FaultRecord { t: monotonic_ns(), fault };
        if let Ok(mut line) = serde_json::to_string(&record) {
            line.push('\n');
            // One write per record: a killed orchestrator loses at most the record in flight.
            let _ = self.file.write_all(line.as_bytes());
        }
        self.records.push(record);
    }
}

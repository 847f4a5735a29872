//! `orchestrator report` and `orchestrator export`: pages, timelines and ShiViz logs for a run
//! that already happened.

use crate::{report_html, shiviz, timeline, Failure};
use std::path::Path;
use std::process::ExitCode;

/// `orchestrator report RUN_DIR`: the page and the timeline for a run that already happened.
pub fn report(run_dir: &Path, max_events: usize) -> Result<ExitCode, Failure> {
    if !run_dir.is_dir() {
        return Err(Failure::BadInput(format!("{} is not a run directory", run_dir.display())));
    }
    let loaded = report_html::load_run(run_dir).map_err(|e| Failure::BadInput(format!("{e:#}")))?;
    for p in &loaded.problems {
        eprintln!("problem: {p}");
    }
    let summary = loaded.summary;
    if loaded.judged {
        summary.write(run_dir)?;
        eprintln!("{} had no summary.json: judged the traces again and wrote one", run_dir.display());
    }
    let written = report_html::write_run_files(&summary, loaded.run, max_events)?;
    // A closed pipe (`| head -1`) is no error: the files are written.
    use std::io::Write;
    let _ = writeln!(
        std::io::stdout(),
        "{} ({} KiB; the diagram draws {} of {} events)\n{}",
        written.report.display(),
        written.bytes.div_ceil(1024),
        written.drawn,
        written.total,
        written.timeline.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `orchestrator export --shiviz RUN_DIR`: the log on stdout, notes on stderr.
pub fn export(shiviz: bool, run_dir: &Path, max_events: Option<usize>) -> Result<ExitCode, Failure> {
    if !shiviz {
        return Err(Failure::BadInput("choose a format: --shiviz".into()));
    }
    let loaded = report_html::load_run(run_dir).map_err(|e| Failure::BadInput(format!("{e:#}")))?;
    for p in &loaded.problems {
        eprintln!("warning: {p}");
    }
    let export = shiviz::export(&timeline::Timeline::new(loaded.run.records, loaded.run.faults), max_events);
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(export.text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(Failure::Run(e.into()));
        }
    }
    if export.differing > 0 {
        eprintln!(
            "note: {} of {} events' vector clocks differ from the traces' (a record missing from the traces, \
             e.g. cut off by a SIGKILL); the export's clocks are recomputed from the \
             send/receive pairs and follow ShiViz's rules",
            export.differing, export.events
        );
    }
    Ok(ExitCode::SUCCESS)
}

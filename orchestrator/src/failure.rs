//! What a command's exit code means, in one place (the README repeats it): 0 every property held
//! (or, for a live command, it was done); 1 a property was violated or could not be judged; 2 bad
//! input (usage, experiment file, unknown node, malformed spec); 3 the run itself failed, or a
//! live command could not be carried out (e.g. no cluster is up); 130 interrupted by Ctrl-C or
//! SIGTERM (the summary is still written).

use algorithms::Verdict;

/// Why a command could not give a verdict.
pub enum Failure {
    /// Usage or experiment file problems: exit 2.
    BadInput(String),
    /// The run itself failed: exit 3.
    Run(anyhow::Error),
}

/// Anything that went wrong while running is a run failure (exit 3); bad input is said so
/// explicitly with [`Failure::BadInput`].
impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Run(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Run(e.into())
    }
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::BadInput(_) => 2,
            Failure::Run(_) => 3,
        }
    }
}

/// The exit code for a verdict (see the module docs).
pub fn verdict_code(verdict: Verdict, interrupted: bool) -> u8 {
    match (interrupted, verdict) {
        (true, _) => 130,
        (false, Verdict::Held) => 0,
        (false, _) => 1,
    }
}

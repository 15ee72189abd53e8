//! How a process fails: an error is logged where its context is, and what
//! travels up is only [`Failed`], "already said". Each role's `main` reads
//! as a list of steps, `step().or_fail("what")?`, and maps the outcome to
//! an exit code once.
//!
//! Used by every process; no privileges involved.

use std::fmt;
use std::process::ExitCode;

use log::error;

/// A failure that has been logged; the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failed;

/// Log an error with what was being done, and turn it into [`Failed`].
pub trait OrFail<T> {
    /// `what` names the step that failed: "listen on [::]:323: …".
    fn or_fail(self, what: impl fmt::Display) -> Result<T, Failed>;
}

impl<T, E: fmt::Display> OrFail<T> for Result<T, E> {
    fn or_fail(self, what: impl fmt::Display) -> Result<T, Failed> {
        self.map_err(|e| {
            error!("{what}: {e}");
            Failed
        })
    }
}

/// The exit code of a process's run.
pub fn exit_code(outcome: Result<(), Failed>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed) => ExitCode::FAILURE,
    }
}

//! CI mode: what a watch that ends hands to a CI job. `--report FILE` writes the report for the
//! job's artifact (format from `--format` or the file's extension); `--fail-on SEVERITY`
//! makes the exit code say whether a finding of that severity or above was found (code 30),
//! and otherwise passes on the exit code of the command `memwatch run` started, so that
//! `memwatch run --fail-on important -- pytest -x tests/` fails the job for a failing test as
//! well as for a leak.
//!
//! Runs after the report was printed; decides only the files written and the exit code.

use std::path::Path;

use crate::cli::{FailOn, Format, WatchOpts};
use crate::event::EndReason;
use crate::failure::{Failure, Result};
use crate::findings::{Finding, Severity};
use crate::share::{self, Built, RenderOpts, View};

/// Findings that fail a run at `level`.
pub fn failing(findings: &[Finding], level: FailOn) -> usize {
    findings
        .iter()
        .filter(|f| match level {
            FailOn::Important => f.severity == Severity::Important,
            FailOn::Suggestion => true,
        })
        .count()
}

/// The exit code of the command a watch started (`memwatch run`), when it exited by itself:
/// its code, or 128 + the signal that killed it. None when memwatch stopped it or it was
/// watched by PID.
pub fn command_exit_code(end: Option<&EndReason>) -> Option<i32> {
    match end? {
        EndReason::TargetExited {
            code: Some(c),
            signal: None,
        } => Some(*c),
        EndReason::TargetExited {
            signal: Some(s), ..
        } => Some(128 + s),
        _ => None,
    }
}

/// At the end of a watch: write `--report`, then decide the exit code of `--fail-on`.
/// `session` is the session file, named in the report.
pub fn finish(
    view: View,
    opts: &WatchOpts,
    session: Option<&Path>,
    end: Option<&EndReason>,
) -> Result<()> {
    let render = RenderOpts {
        top: 10,
        no_source: opts.no_source,
        session_file: session.map(|p| p.display().to_string()),
        ..Default::default()
    };
    if let Some(path) = &opts.report {
        let format = opts.format.unwrap_or_else(|| Format::from_extension(path));
        let bytes = share::render(view, format, &render)?;
        share::file::write_output(path, &bytes)?;
        eprintln!("memwatch: report written to {}", path.display());
    }
    let Some(level) = opts.fail_on else {
        return Ok(());
    };
    let built = Built::new(view, &render);
    let n = failing(built.findings(), level);
    if n > 0 {
        return Err(Failure::FindingsFound {
            severity: match level {
                FailOn::Important => "important",
                FailOn::Suggestion => "suggestion",
            }
            .to_string(),
            count: n,
        });
    }
    match command_exit_code(end) {
        Some(code) if code != 0 => Err(Failure::CommandFailed(code)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_code_passes_on_signals_as_128_plus() {
        let exited = |code, signal| EndReason::TargetExited { code, signal };
        assert_eq!(command_exit_code(Some(&exited(Some(3), None))), Some(3));
        assert_eq!(command_exit_code(Some(&exited(None, Some(9)))), Some(137));
        assert_eq!(command_exit_code(Some(&exited(None, None))), None);
        assert_eq!(command_exit_code(Some(&EndReason::Duration)), None);
        assert_eq!(command_exit_code(None), None);
    }
}

//! The outputs of an eval run, in `DIR/<run_id>/`: `metrics.json` (the [`RunResult`] and, with a
//! baseline, the [`Comparison`]), `report.md` (ready to post on a pull request: per set, baseline
//! vs now with deltas and intervals, regressions first, then the failing cases) and `junit.xml`
//! (one testsuite per set, one testcase per case, for CI test viewers).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::compare::Comparison;
use super::results::{CaseStatus, RunResult, SetResult};

mod junit;
mod markdown;

pub use junit::junit;
pub use markdown::markdown;

/// The hidden line that marks our pull-request comment, so CI updates it instead of adding one.
pub const COMMENT_MARKER: &str = "<!-- powerbirth-eval-report -->";

/// Why an output could not be written or a `metrics.json` read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write metrics.json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{path}: line {line}, column {column}: not a metrics.json of an eval run: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// `metrics.json`: the run's own fields, plus `comparison` when it was compared with a baseline.
/// Reading one back as a [`RunResult`] ignores `comparison`, so any run can be a baseline.
#[derive(Serialize)]
struct MetricsFile<'a> {
    #[serde(flatten)]
    run: &'a RunResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    comparison: Option<&'a Comparison>,
}

/// Writes `metrics.json`, `report.md` and `junit.xml` into `out_dir/<run_id>/` (created if
/// missing) and returns that folder.
pub fn write_outputs(
    out_dir: &Path,
    run: &RunResult,
    comparison: Option<&Comparison>,
) -> Result<PathBuf, ReportError> {
    let dir = out_dir.join(&run.run_id);
    std::fs::create_dir_all(&dir).map_err(|source| ReportError::Io {
        path: dir.clone(),
        source,
    })?;
    let files = [
        ("metrics.json", metrics_json(run, comparison)?),
        ("report.md", markdown(run, comparison)),
        ("junit.xml", junit(run)),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| ReportError::Io { path, source })?;
    }
    Ok(dir)
}

/// The `metrics.json` text (pretty-printed: it is read in reviews and diffs).
pub fn metrics_json(
    run: &RunResult,
    comparison: Option<&Comparison>,
) -> Result<String, serde_json::Error> {
    let file = MetricsFile { run, comparison };
    Ok(serde_json::to_string_pretty(&file)? + "\n")
}

/// Reads a `metrics.json` (e.g. `--baseline`), with the line and column of what is wrong.
pub fn read_metrics(path: &Path) -> Result<RunResult, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ReportError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// Cases by status.
#[derive(Default)]
struct Counts {
    passed: usize,
    failed: usize,
    errored: usize,
}

fn set_counts(set: &SetResult) -> Counts {
    let mut n = Counts::default();
    for c in &set.cases {
        match c.status {
            CaseStatus::Passed => n.passed += 1,
            CaseStatus::Failed => n.failed += 1,
            CaseStatus::Errored => n.errored += 1,
        }
    }
    n
}

fn run_counts(run: &RunResult) -> Counts {
    run.sets
        .iter()
        .map(set_counts)
        .fold(Counts::default(), |a, b| Counts {
            passed: a.passed + b.passed,
            failed: a.failed + b.failed,
            errored: a.errored + b.errored,
        })
}

//! Deploy (issue 22), validated offline with real tools: hadolint on the Dockerfile, Helm's own
//! library linting and rendering the chart for every values file, kubernetes-validate and the
//! published CRD schemas on what it renders, GitHub's workflow schema on the release workflow,
//! a strict Argo WorkflowTemplate schema (from hera's models) on the fine-tuning template
//! (tools from `scripts/install-deploy-tools.sh`, a prerequisite of `make test`); and the
//! `deploy` commands through the real binary: the post-deploy check against the real gateway
//! and a broken one, the release history and the rollback against a recording `kubectl`.

mod argo;
mod chart;
mod check;
mod image;
mod rollback;
mod workflow;

use std::path::{Path, PathBuf};
use std::process::Output;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A program of the deploy-tools virtualenv, or `None` after a skip (outside CI) when
/// `scripts/install-deploy-tools.sh` has not run. In CI a missing tool fails the test.
pub fn tool(name: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("POWERBIRTH_DEPLOY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                });
            cache.join("powerbirth/deploy-venv")
        });
    let path = venv.join("bin").join(name);
    if path.exists() {
        Some(path)
    } else {
        crate::common::skip(&format!(
            "{} is missing: run scripts/install-deploy-tools.sh (make test does)",
            path.display()
        ));
        None
    }
}

/// Runs a program from the repository root and returns its output (never panics on exit code).
pub fn run(program: &Path, args: &[&str]) -> Output {
    std::process::Command::new(program)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

/// stdout and stderr as one string, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

//! `powerbirth deploy rollback [--to N] [--dry-run]`: back to a release of `releases.json` in
//! one command, timed end to end (the target is under five minutes). It prints each `kubectl`
//! command before running it: `kubectl argo rollouts undo` (or `kubectl rollout undo` for a plain
//! Deployment), then `status --watch --timeout` until the rollback is live, re-runs the
//! post-deploy check when given a URL and key, and records the rollback in the same file.
//! `--dry-run` prints the plan and changes nothing.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::check::{self, CheckOptions};
use super::releases::{CheckResult, Release, ReleaseKind, Releases, now_rfc3339};

/// What to roll back and how.
#[derive(Debug, Clone)]
pub struct RollbackOptions {
    /// `deploy/releases.json`.
    pub file: PathBuf,
    /// The release id to return to; default the newest earlier rollout that passed its check
    /// and runs another image than the live one.
    pub to: Option<u64>,
    pub namespace: String,
    /// The Rollout's (or Deployment's) name.
    pub name: String,
    /// A plain Deployment (`kubectl rollout undo`) instead of an Argo Rollout.
    pub deployment: bool,
    /// How long to wait for the rollback to become live.
    pub timeout: Duration,
    /// The kubectl to run (found on PATH by default).
    pub kubectl: String,
    pub who: String,
    pub dry_run: bool,
    /// The post-deploy check to re-run; `None` records the check as skipped.
    pub check: Option<CheckOptions>,
}

/// The release to return to, and the commands that do it.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackPlan {
    pub target: Target,
    /// Each command's arguments, the program first.
    pub commands: Vec<Vec<String>>,
}

/// The release a rollback returns to.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub release: Release,
}

/// Chooses the target and builds the commands; refuses what it cannot do exactly.
pub fn plan(releases: &Releases, opts: &RollbackOptions) -> Result<RollbackPlan, String> {
    let release = match opts.to {
        Some(id) => releases.get(id).cloned().ok_or_else(|| {
            let ids: Vec<String> = releases.releases.iter().map(|r| r.id.to_string()).collect();
            format!(
                "{}: no release {id} (the file has {})",
                opts.file.display(),
                if ids.is_empty() {
                    "none".into()
                } else {
                    ids.join(", ")
                }
            )
        })?,
        None => default_target(releases).cloned().ok_or_else(|| {
            format!(
                "{}: nothing to roll back to (no earlier rollout that passed its check and runs \
                 another image than the current one, among {} release(s))",
                opts.file.display(),
                releases.releases.len()
            )
        })?,
    };
    if opts.to.is_some() && release.revision.is_none() {
        return Err(format!(
            "release {} has no recorded revision: `kubectl argo rollouts undo --to-revision` cannot name it \
             (record releases with --revision, or roll back one step without --to)",
            release.id
        ));
    }
    let ns = ["--namespace".to_string(), opts.namespace.clone()];
    let to_revision = release
        .revision
        .map(|r| vec!["--to-revision".to_string(), r.to_string()])
        .unwrap_or_default();
    let timeout = format!("{}s", opts.timeout.as_secs());
    let k = |args: &[&str]| {
        std::iter::once(opts.kubectl.clone())
            .chain(args.iter().map(|a| a.to_string()))
            .collect::<Vec<_>>()
    };
    let (mut undo, mut status) = if opts.deployment {
        let target = format!("deployment/{}", opts.name);
        (
            k(&["rollout", "undo", &target]),
            k(&["rollout", "status", &target, "--timeout", &timeout]),
        )
    } else {
        (
            k(&["argo", "rollouts", "undo", &opts.name]),
            k(&[
                "argo",
                "rollouts",
                "status",
                &opts.name,
                "--watch",
                "--timeout",
                &timeout,
            ]),
        )
    };
    undo.extend(to_revision);
    undo.extend(ns.clone());
    status.extend(ns);
    Ok(RollbackPlan {
        target: Target { release },
        commands: vec![undo, status],
    })
}

/// The newest earlier rollout that passed its check and runs another image than the live one
/// (the newest entry, rollout or rollback): a bad rollout or a rollback is never a target.
fn default_target(releases: &Releases) -> Option<&Release> {
    let (current, earlier) = releases.releases.split_last()?;
    earlier.iter().rev().find(|r| {
        r.kind == ReleaseKind::Rollout && r.check == CheckResult::Passed && r.image != current.image
    })
}

/// What a finished rollback reports.
#[derive(Debug, Clone)]
pub struct RollbackOutcome {
    pub recorded: Option<u64>,
    pub check: CheckResult,
    pub elapsed: Duration,
    /// The summary of the re-run check, if it ran.
    pub check_summary: Option<String>,
}

/// Plans, prints and (unless `dry_run`) runs the rollback, re-checks and records it. Progress
/// goes to stdout as it happens; a failed command stops the rollback and is recorded.
pub async fn run(opts: &RollbackOptions) -> Result<RollbackOutcome, String> {
    let started = Instant::now();
    let mut releases = Releases::load(&opts.file)?;
    let plan = plan(&releases, opts)?;
    let target = &plan.target.release;
    println!(
        "rollback to release #{} ({}, risk model {}, checked {:?} at {})",
        target.id, target.image, target.model_version, target.check, target.at
    );
    for command in &plan.commands {
        println!("$ {}", command.join(" "));
    }
    if opts.dry_run {
        println!(
            "dry run: nothing was run and {} is unchanged",
            opts.file.display()
        );
        return Ok(RollbackOutcome {
            recorded: None,
            check: CheckResult::Skipped,
            elapsed: started.elapsed(),
            check_summary: None,
        });
    }
    let mut failure = None;
    for command in &plan.commands {
        if let Err(e) = execute(command).await {
            failure = Some(e);
            break;
        }
    }
    let (check, check_summary) = match (&failure, &opts.check) {
        (None, Some(check_opts)) => {
            let report = check::run(check_opts).await?;
            let result = if report.passed() {
                CheckResult::Passed
            } else {
                CheckResult::Failed
            };
            (result, Some(report.summary()))
        }
        (Some(_), _) => (CheckResult::Failed, None),
        (None, None) => (CheckResult::Skipped, None),
    };
    let elapsed = started.elapsed();
    let note = match &failure {
        None => format!(
            "rollback to release #{} in {:.1} s",
            target.id,
            elapsed.as_secs_f64()
        ),
        Some(e) => format!("rollback to release #{} failed: {e}", target.id),
    };
    let id = releases.push(Release {
        id: 0,
        kind: ReleaseKind::Rollback,
        at: now_rfc3339(),
        who: opts.who.clone(),
        check,
        note: Some(note),
        ..target.clone()
    });
    releases.save(&opts.file)?;
    match failure {
        Some(e) => Err(format!("{e} (recorded as release #{id})")),
        None => Ok(RollbackOutcome {
            recorded: Some(id),
            check,
            elapsed,
            check_summary,
        }),
    }
}

/// Runs one command with the terminal's output; a non-zero exit is an error naming it.
async fn execute(command: &[String]) -> Result<(), String> {
    let status = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .status()
        .await
        .map_err(|e| format!("`{}`: {e}", command[0]))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` exited with {status}", command.join(" ")))
    }
}

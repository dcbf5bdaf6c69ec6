//! `powerbirth deploy record` and `deploy rollback` through the real binary, with a recording
//! `kubectl` stand-in first on PATH (it appends its arguments to a log and answers like
//! kubectl), the real `releases.json`, and `--dry-run` proved to change nothing.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use super::{repo, text};

struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    /// A directory with `kubectl` (a shell script recording its arguments; `status` fails when
    /// `FAIL_STATUS` is set) and a releases file.
    fn new() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let script = bin.join("kubectl");
        std::fs::write(
            &script,
            "#!/bin/sh\necho \"$*\" >> \"$KUBECTL_LOG\"\ncase \"$*\" in *status*) [ -n \"$FAIL_STATUS\" ] && { echo 'rollout aborted' >&2; exit 1; } ;; esac\necho \"ok: $*\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Cluster { dir }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("deploy/releases.json")
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("kubectl.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn powerbirth(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap()
        );
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"));
        cmd.args(args)
            .current_dir(repo())
            .env("PATH", path)
            .env("KUBECTL_LOG", self.dir.path().join("kubectl.log"))
            .env_remove("KUBECTL")
            .env_remove("POWERBIRTH_CHECK_KEY");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn record(&self, image: &str, model: &str, revision: u64, check: &str) {
        let file = self.file();
        let rev = revision.to_string();
        let out = self.powerbirth(
            &[
                "deploy",
                "record",
                "--file",
                file.to_str().unwrap(),
                "--image",
                image,
                "--model-version",
                model,
                "--prompts-dir",
                "prompts",
                "--revision",
                &rev,
                "--who",
                "ci-bot",
                "--check",
                check,
            ],
            &[],
        );
        assert!(out.status.success(), "{}", text(&out));
    }

    fn releases(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.file()).unwrap()).unwrap()
    }
}

fn rollback_args<'a>(file: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "deploy",
        "rollback",
        "--file",
        file.to_str().unwrap(),
        "--namespace",
        "pb",
    ];
    args.extend(extra);
    args
}

#[test]
fn record_keeps_the_last_ten_rollouts_with_prompts_who_and_check() {
    let cluster = Cluster::new();
    for i in 1..=12 {
        cluster.record(
            &format!("ghcr.io/pb/powerbirth:{i}"),
            &format!("risk-{i}"),
            i,
            "passed",
        );
    }
    let file = cluster.releases();
    let releases = file["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 10);
    assert_eq!(releases[0]["id"], 3);
    let last = &releases[9];
    assert_eq!(last["image"], "ghcr.io/pb/powerbirth:12");
    assert_eq!(last["model_version"], "risk-12");
    assert_eq!(last["who"], "ci-bot");
    assert_eq!(last["check"], "passed");
    assert_eq!(last["kind"], "rollout");
    // The prompts' production versions as the shipped prompt files label them.
    assert_eq!(last["prompt_versions"]["birth-plan"], 1);
    assert!(last["at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn rollback_undoes_waits_and_records_in_that_order() {
    let cluster = Cluster::new();
    cluster.record("ghcr.io/pb/powerbirth:a", "risk-1", 4, "passed");
    cluster.record("ghcr.io/pb/powerbirth:b", "risk-2", 5, "failed");
    let file = cluster.file();
    let out = cluster.powerbirth(
        &rollback_args(&file, &["--name", "pb-gw", "--timeout-s", "240"]),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        cluster.log(),
        [
            "argo rollouts undo pb-gw --to-revision 4 --namespace pb",
            "argo rollouts status pb-gw --watch --timeout 240s --namespace pb",
        ]
    );
    let printed = text(&out);
    assert!(
        printed.contains("$ kubectl argo rollouts undo pb-gw --to-revision 4 --namespace pb"),
        "{printed}"
    );
    assert!(
        printed.contains("rollback finished in ") && printed.contains("(target: under 300 s)"),
        "{printed}"
    );
    let releases = cluster.releases();
    let last = releases["releases"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "rollback");
    assert_eq!(last["id"], 3);
    assert_eq!(last["image"], "ghcr.io/pb/powerbirth:a");
    assert_eq!(last["model_version"], "risk-1");
    assert_eq!(
        last["check"], "skipped",
        "no --url: the check was not re-run"
    );
    assert!(
        last["note"]
            .as_str()
            .unwrap()
            .starts_with("rollback to release #1 in "),
        "{last}"
    );
    // Back on `a`, there is nothing left to return to: `b` failed its check, #3 is a rollback.
    let out = cluster.powerbirth(&rollback_args(&file, &["--dry-run"]), &[]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("nothing to roll back to"),
        "{}",
        text(&out)
    );
}

#[test]
fn rollback_to_a_named_release_of_a_plain_deployment_uses_kubectl_rollout() {
    let cluster = Cluster::new();
    for (i, tag) in ["a", "b", "c"].iter().enumerate() {
        cluster.record(&format!("img:{tag}"), "risk", 10 + i as u64, "passed");
    }
    let file = cluster.file();
    let out = cluster.powerbirth(
        &rollback_args(&file, &["--deployment", "--name", "gw", "--to", "1"]),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        cluster.log(),
        [
            "rollout undo deployment/gw --to-revision 10 --namespace pb",
            "rollout status deployment/gw --timeout 300s --namespace pb",
        ]
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let cluster = Cluster::new();
    cluster.record("img:a", "risk-1", 1, "passed");
    cluster.record("img:b", "risk-2", 2, "passed");
    let before = std::fs::read(cluster.file()).unwrap();
    let file = cluster.file();
    let out = cluster.powerbirth(&rollback_args(&file, &["--dry-run"]), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(
            "$ kubectl argo rollouts undo powerbirth-powerbirth --to-revision 1 --namespace pb"
        ),
        "{}",
        text(&out)
    );
    assert!(cluster.log().is_empty(), "kubectl ran: {:?}", cluster.log());
    assert_eq!(
        std::fs::read(cluster.file()).unwrap(),
        before,
        "releases.json changed"
    );
}

#[test]
fn a_rollback_that_does_not_become_live_fails_and_is_recorded_as_failed() {
    let cluster = Cluster::new();
    cluster.record("img:a", "risk-1", 1, "passed");
    cluster.record("img:b", "risk-2", 2, "passed");
    let file = cluster.file();
    let out = cluster.powerbirth(&rollback_args(&file, &[]), &[("FAIL_STATUS", "1")]);
    assert!(!out.status.success());
    assert!(text(&out).contains("exited with"), "{}", text(&out));
    let releases = cluster.releases();
    let last = releases["releases"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["check"], "failed");
    assert!(last["note"].as_str().unwrap().contains("failed"), "{last}");
}

#[test]
fn a_rollback_with_nothing_to_return_to_says_so_and_runs_nothing() {
    let cluster = Cluster::new();
    cluster.record("img:a", "risk-1", 1, "passed");
    let file = cluster.file();
    let out = cluster.powerbirth(&rollback_args(&file, &[]), &[]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("nothing to roll back to"),
        "{}",
        text(&out)
    );
    let out = cluster.powerbirth(&rollback_args(&file, &["--to", "7"]), &[]);
    assert!(
        text(&out).contains("no release 7 (the file has 1)"),
        "{}",
        text(&out)
    );
    assert!(cluster.log().is_empty());
}

#[test]
fn the_shipped_release_history_is_a_file_the_commands_read() {
    let file = repo().join("deploy/releases.json");
    let releases = powerbirth::deploy::Releases::load(&file).unwrap();
    assert!(releases.releases.len() <= powerbirth::deploy::releases::KEEP);
}

//! The local model registry (`models/registry.json`) as an operator drives it: `powerbirth
//! models register | promote | list | history`, with no MLflow configured.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::ml::version_dir;

/// `powerbirth models --models-dir DIR …` with MLflow unset.
fn models(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .arg("models")
        .arg("--models-dir")
        .arg(dir)
        .args(args)
        .env_remove("MLFLOW_TRACKING_URI")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn register(models_dir: &Path, version: &str, auc: f64) {
    let dir = version_dir(models_dir, "risk", version, auc);
    ok(&models(
        models_dir,
        &["register", "risk", "--dir", dir.to_str().unwrap()],
    ));
}

#[test]
fn a_worse_version_is_refused_with_the_reason_and_production_stays() {
    let tmp = tempfile::tempdir().unwrap();
    register(tmp.path(), "v-good", 0.88);
    register(tmp.path(), "v-worse", 0.84);
    let promote = |version: &str| {
        models(
            tmp.path(),
            &[
                "promote",
                "risk",
                "--version",
                version,
                "--approved-by",
                "ana@example.org",
            ],
        )
    };
    let first = ok(&promote("v-good"));
    assert!(first.contains("none -> v-good"), "{first}");

    let refused = promote("v-worse");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("promotion refused")
            && stderr.contains("0.8400")
            && stderr.contains("below production (version v-good: 0.8800)"),
        "{stderr}"
    );
    let list = ok(&models(tmp.path(), &["list", "risk"]));
    let production: Vec<&str> = list.lines().filter(|l| l.contains("production")).collect();
    assert_eq!(production.len(), 1, "{list}");
    assert!(production[0].starts_with("v-good"), "{list}");
}

#[test]
fn list_shows_metrics_alias_and_approver_and_history_every_move() {
    let tmp = tempfile::tempdir().unwrap();
    register(tmp.path(), "v1", 0.85);
    register(tmp.path(), "v2", 0.87);
    for (version, who, reason) in [
        ("v1", "ana@example.org", "first model"),
        ("v2", "bia@example.org", "better AUC"),
    ] {
        ok(&models(
            tmp.path(),
            &[
                "promote",
                "risk",
                "--version",
                version,
                "--approved-by",
                who,
                "--reason",
                reason,
            ],
        ));
    }
    let list = ok(&models(tmp.path(), &["list", "risk"]));
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[0].starts_with("VERSION") && lines[0].contains("APPROVED BY"),
        "{list}"
    );
    let v1: Vec<&str> = lines[1].split_whitespace().collect();
    let v2: Vec<&str> = lines[2].split_whitespace().collect();
    // VERSION REG AUC-HIGH AUC-MACRO F1-MACRO BRIER ALIASES APPROVED-BY
    assert_eq!(
        v1,
        [
            "v1",
            "v1",
            "0.8500",
            "0.8000",
            "0.7000",
            "0.1000",
            "-",
            "ana@example.org"
        ]
    );
    assert_eq!(
        v2,
        [
            "v2",
            "v2",
            "0.8700",
            "0.8000",
            "0.7000",
            "0.1000",
            "production",
            "bia@example.org"
        ]
    );

    let history = ok(&models(tmp.path(), &["history", "risk"]));
    let rows: Vec<Vec<&str>> = history
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert_eq!(&rows[0][1..5], ["production", "v1", "-", "ana@example.org"]);
    assert_eq!(
        &rows[1][1..5],
        ["production", "v2", "v1", "bia@example.org"]
    );
    assert!(history.contains("better AUC"), "{history}");

    // The file itself carries the approval as a version tag, for whoever reads it without us.
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("registry.json")).unwrap()).unwrap();
    let v2 = &file["models"]["risk"]["versions"][1];
    assert_eq!(v2["tags"]["approved_by"], "bia@example.org");
    assert_eq!(v2["tags"]["approval_reason"], "better AUC");
}

#[test]
fn a_promotion_without_an_email_or_of_an_unknown_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    register(tmp.path(), "v1", 0.85);
    let bad_email = models(
        tmp.path(),
        &[
            "promote",
            "risk",
            "--version",
            "v1",
            "--approved-by",
            "bootstrap",
        ],
    );
    assert!(!bad_email.status.success());
    assert!(String::from_utf8_lossy(&bad_email.stderr).contains("not an email address"));
    let unknown = models(
        tmp.path(),
        &[
            "promote",
            "risk",
            "--version",
            "v9",
            "--approved-by",
            "ana@example.org",
        ],
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("has no version \"v9\""));
    assert!(!ok(&models(tmp.path(), &["list", "risk"])).contains("production"));
}

#[test]
fn an_unreachable_mlflow_is_a_clear_error_not_a_silent_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .args(["models", "list", "risk", "--models-dir"])
        .arg(tmp.path())
        .env("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MLflow registered-models/get"), "{stderr}");
    assert!(!tmp.path().join("registry.json").exists());
}

#[test]
fn bootstrap_trains_and_promotes_the_shipped_config_once_then_leaves_production_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let first = ok(&models(tmp.path(), &["bootstrap"]));
    assert!(first.contains("approved by bootstrap"), "{first}");
    let version = first
        .strip_prefix("risk production: ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .to_string();
    // Trained into <models-dir>/risk/<version>/ with its metrics, and registered as production.
    assert!(
        tmp.path()
            .join("risk")
            .join(&version)
            .join("metrics.json")
            .is_file()
    );
    let listed = ok(&models(tmp.path(), &["list", "risk"]));
    assert!(
        listed.contains(&version) && listed.contains("production"),
        "{listed}"
    );

    let second = ok(&models(tmp.path(), &["bootstrap"]));
    assert_eq!(
        second,
        format!("risk production: {version} (already there)\n")
    );
    let history = ok(&models(tmp.path(), &["history", "risk"]));
    assert_eq!(history.matches(&version).count(), 1, "{history}");
}

/// `powerbirth train` on the shipped config into `models_dir/risk`, MLflow unset.
fn train(models_dir: &Path, register: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_powerbirth"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("train")
        .arg("--out")
        .arg(models_dir.join("risk"))
        .arg("--models-dir")
        .arg(models_dir)
        .env_remove("MLFLOW_TRACKING_URI");
    if register {
        cmd.arg("--register");
    }
    ok(&cmd.output().unwrap())
}

/// The version a `train` run printed (`trained <kind> version <version>`).
fn trained_version(stdout: &str) -> String {
    let line = stdout.lines().find(|l| l.starts_with("trained ")).unwrap();
    line.rsplit(' ').next().unwrap().to_string()
}

#[test]
fn train_registers_its_version_locally_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = train(tmp.path(), false);
    assert!(!plain.contains("registered"), "{plain}");
    assert!(!tmp.path().join("registry.json").exists());

    let stdout = train(tmp.path(), true);
    let version = trained_version(&stdout);
    assert!(
        stdout.contains(&format!("registered risk version {version}")),
        "{stdout}"
    );
    let listed = ok(&models(tmp.path(), &["list", "risk"]));
    assert!(listed.contains(&version), "{listed}");
}

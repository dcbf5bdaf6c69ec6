//! ML helpers: a trained version directory made on the spot (the format `ml::train` writes), and
//! one real MLflow tracking server per test run, installed by `scripts/install-mlflow.sh`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Writes `root/<task>/<version>/` with `metrics.json` (CV `roc_auc_high` mean `auc`, three
/// folds), `model.json`, `roc.svg`, and the package `root/<task>/<task>-<version>.tar.gz`.
pub fn version_dir(root: &Path, task: &str, version: &str, auc: f64) -> PathBuf {
    let dir = root.join(task).join(version);
    std::fs::create_dir_all(&dir).unwrap();
    let metrics = serde_json::json!({
        "task": task, "version": version, "git_sha": "abc123", "data_sha256": "d4t4",
        "seed": 42, "config": {"model": {"kind": "logistic", "c": 1.0}, "cv": {"folds": 3}},
        "cv": {
            "roc_auc_high": {"mean": auc, "sd": 0.01, "folds": [auc - 0.01, auc, auc + 0.01]},
            "roc_auc_macro_ovr": {"mean": 0.8, "sd": 0.01, "folds": [0.79, 0.8, 0.81]},
            "f1_macro": {"mean": 0.7, "sd": 0.02, "folds": [0.68, 0.7, 0.72]},
            "brier": {"mean": 0.1, "sd": 0.0, "folds": [0.1, 0.1, 0.1]}
        },
        "confusion": [[1, 0], [0, 1]], "timings": {"fit_ms": 3}, "created_at": "2026-12-06T00:00:00Z"
    });
    std::fs::write(dir.join("metrics.json"), metrics.to_string()).unwrap();
    std::fs::write(
        dir.join("model.json"),
        format!("{{\"version\":\"{version}\"}}"),
    )
    .unwrap();
    std::fs::write(
        dir.join("roc.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    let tar = root.join(task).join(format!("{task}-{version}.tar.gz"));
    std::fs::write(tar, b"not really a tarball").unwrap();
    dir
}

/// The MLflow executable `scripts/install-mlflow.sh` installs (same place as the script).
fn mlflow_bin() -> PathBuf {
    let venv = std::env::var_os("POWERBIRTH_MLFLOW_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                });
            cache.join("powerbirth/mlflow-venv")
        });
    venv.join("bin/mlflow")
}

/// The base URL of the run's MLflow server, started on first use (SQLite backend, artifacts
/// proxied into a temporary directory). Outside CI a missing MLflow skips the test.
///
/// The server outlives any one test; a small shell watchdog in its process group polls this
/// test process and, once it is gone, kills the whole group (MLflow and its workers) and removes
/// the directory, so nothing is left running after `cargo test`.
pub fn mlflow_server() -> Option<String> {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    match SERVER.get_or_init(start_mlflow) {
        Ok(url) => Some(url.clone()),
        Err(reason) => {
            super::skip(reason);
            None
        }
    }
}

fn start_mlflow() -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    let bin = mlflow_bin();
    if !bin.exists() {
        return Err(format!(
            "{} is absent (run scripts/install-mlflow.sh)",
            bin.display()
        ));
    }
    let dir = tempfile::Builder::new()
        .prefix("pb-mlflow-")
        .tempdir()
        .unwrap()
        .keep();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let watchdog = r#"parent=$1; dir=$2; shift 2
"$@" >"$dir/server.log" 2>&1 &
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
trap '' TERM; kill -TERM 0; sleep 2; rm -rf "$dir"; kill -KILL 0"#;
    std::process::Command::new("sh")
        .args(["-c", watchdog, "sh", &std::process::id().to_string()])
        .arg(&dir)
        .arg(&bin)
        .args([
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--workers",
            "1",
        ])
        .arg("--backend-store-uri")
        .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
        .arg("--serve-artifacts")
        .arg("--artifacts-destination")
        .arg(dir.join("artifacts"))
        // MLflow's background job runner (huey consumers) is not needed by the registry.
        .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        .stdin(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if health(port) {
            return Ok(format!("http://127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    panic!("mlflow server did not answer /health within 90 s; its log:\n{log}");
}

/// Whether `GET /health` answers 200 (plain HTTP/1.0: no async runtime is needed here).
fn health(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
}

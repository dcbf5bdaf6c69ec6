//! The risk model's monitors over its real prediction log: the daily drift job (the production
//! version's training reference against the features logged in the last 24 h and 7 d; reports
//! saved as JSON and HTML, gauges set; also run as `powerbirth monitor drift --model risk`), and
//! `powerbirth monitor canary --metric risk_high_share` between releases.

use std::path::Path;
use std::process::Command;

use prometheus_client::registry::Registry as Prometheus;
use serde_json::Value;

use powerbirth::ml::drift::config::DriftConfig;
use powerbirth::ml::drift::job::{DriftJob, Outcome};
use powerbirth::ml::drift::metrics::DriftMetrics;
use powerbirth::ml::registry::Registry;
use powerbirth::ml::serve::RiskConfig;
use powerbirth::ml::train::artifacts::reference_csv;
use powerbirth::store::Store;
use powerbirth::store::predictions::PredictionRecord;

use crate::common::{Backend, PgDatabase, fresh_pg_database, on_both_backends};
use crate::risk::fixture::{promote, shipped_rows};

/// The production version the drift tests register.
pub const VERSION: &str = "drift0000001";
const H: i64 = 3_600_000;
const FEATURES: [&str; 6] = [
    "Age",
    "SystolicBP",
    "DiastolicBP",
    "BS",
    "BodyTemp",
    "HeartRate",
];

/// A store of the scenario's backend and its URL (the PostgreSQL database lives as long as the
/// returned guard).
pub async fn fresh_store(dir: &Path) -> (Store, String, Option<PgDatabase>) {
    let (url, db) = match Backend::current() {
        Backend::Postgres { base } => {
            let db = fresh_pg_database(&base).await;
            (db.url.clone(), Some(db))
        }
        Backend::Sqlite => (
            format!("sqlite://{}", dir.join("monitor.db").display()),
            None,
        ),
    };
    (Store::connect(&url, 4).await.unwrap(), url, db)
}

/// A local registry under `root` whose production `risk` version carries the training reference
/// of the shipped data, written as `powerbirth train` writes it.
pub async fn registry_with_reference(root: &Path) {
    let dir = crate::common::ml::version_dir(root, "risk", VERSION, 0.9);
    // A real fitted model, so the app that serves this registry answers risk requests too.
    std::fs::write(dir.join("model.json"), &crate::risk::fixture::models().0).unwrap();
    let (x, _) = shipped_rows();
    let integer = [true, true, true, false, false, true];
    std::fs::write(
        dir.join("reference.csv"),
        reference_csv(&FEATURES, &integer, &x),
    )
    .unwrap();
    Registry::open(root, None)
        .unwrap()
        .register("risk", &dir)
        .await
        .unwrap();
    promote(root, VERSION).await;
}

fn prediction(
    id: String,
    at: i64,
    version: &str,
    release: &str,
    row: &[f64],
    high: bool,
) -> PredictionRecord {
    let mut features: serde_json::Map<String, Value> = FEATURES
        .iter()
        .zip(row)
        .map(|(n, v)| (n.to_string(), serde_json::json!(v)))
        .collect();
    features.insert("gestational_week".into(), serde_json::json!(31));
    PredictionRecord {
        id,
        created_at: at,
        patient_id: None,
        features: Value::Object(features).to_string(),
        probabilities: r#"{"low":0.2,"mid":0.3,"high":0.5}"#.into(),
        risk_level: if high { "high" } else { "low" }.into(),
        escalate: false,
        model_name: "risk".into(),
        model_version: version.into(),
        latency_ms: 1.0,
        release: Some(release.into()),
    }
}

/// A shipped row of a sicker population: higher pressures, glucose, temperature and pulse.
fn shifted(row: &[f64]) -> Vec<f64> {
    vec![
        row[0],
        row[1] + 30.0,
        row[2] + 20.0,
        row[3] + 4.0,
        row[4] + 1.5,
        row[5] + 15.0,
    ]
}

/// Logs, for the production version: 40 shifted patients in the last 24 h, and every shipped
/// row twice 3 days ago (the training population, so the 7-day window is mostly unshifted);
/// and shifted rows that no window of it may count: 10 days ago, and of another version.
pub async fn seed_drift(store: &Store, now: i64) {
    let (x, _) = shipped_rows();
    let mut batch = Vec::new();
    let id = |k: &str, i: usize| format!("{k}-{i:05}");
    for i in 0..40 {
        let row = shifted(&x[i * 19 % x.len()]);
        batch.push(prediction(
            id("day", i),
            now - 2 * H - i as i64,
            VERSION,
            "r1",
            &row,
            false,
        ));
        batch.push(prediction(
            id("old", i),
            now - 240 * H,
            VERSION,
            "r1",
            &row,
            false,
        ));
        batch.push(prediction(
            id("other", i),
            now - H,
            "another00001",
            "r1",
            &row,
            false,
        ));
    }
    for (i, row) in x.iter().chain(x.iter()).enumerate() {
        batch.push(prediction(
            id("week", i),
            now - 72 * H - i as i64,
            VERSION,
            "r1",
            row,
            false,
        ));
    }
    store.write_predictions(&batch).await.unwrap();
}

fn drift_config(dir: &Path) -> DriftConfig {
    DriftConfig {
        dir: dir.to_path_buf(),
        ..DriftConfig::default()
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `powerbirth monitor drift --model risk --window 24h --out DIR` on the same log: the 24 h
/// report, printed and saved; a model the configuration does not serve is refused.
fn the_command_line_runs_the_same_job(tmp: &Path, url: &str, root: &Path) {
    let cfg = tmp.join("powerbirth.toml");
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"{url}\"\n\n[risk]\nmodels_dir = \"{}\"\n",
            root.display()
        ),
    )
    .unwrap();
    let out = tmp.join("cli");
    let run = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .arg("--config")
        .arg(&cfg)
        .args([
            "monitor", "drift", "--model", "risk", "--window", "24h", "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let printed: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        (
            printed["window"].as_str(),
            printed["dataset_drift"].as_bool()
        ),
        (Some("24h"), Some(true))
    );
    assert!(out.join("risk-24h/drift.html").is_file());
    // A model the configuration does not serve is refused.
    let other = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .arg("--config")
        .arg(&cfg)
        .args(["monitor", "drift", "--model", "triage"])
        .output()
        .unwrap();
    assert!(!other.status.success());
}

/// The 24 h window's `drift.json` (the report with what it compared) and HTML page in `dir`, and
/// the gauges of both windows.
fn the_reports_are_saved_and_the_gauges_set(dir: &Path, prometheus: &Prometheus) {
    // Saved as JSON (the report with what it compared) and as the HTML page.
    let json = read_json(&dir.join("drift.json"));
    assert_eq!(json["dataset_drift"], true);
    assert_eq!(json["model"], "risk");
    assert_eq!(json["current_rows"], 40);
    assert_eq!(json["columns"].as_array().unwrap().len(), 6);
    let html = std::fs::read_to_string(dir.join("drift.html")).unwrap();
    assert!(
        html.contains("SystolicBP") && html.contains("<svg"),
        "{html}"
    );

    // The gauges of both windows.
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, prometheus).unwrap();
    for line in [
        r#"powerbirth_drift_dataset_drift{model="risk",window="24h"} 1"#,
        r#"powerbirth_drift_dataset_drift{model="risk",window="7d"} 0"#,
        r#"powerbirth_drift_share_drifted{model="risk",window="24h"} 0.8333333333333334"#,
        r#"powerbirth_drift_column_drifted{model="risk",window="24h",column="Age",method="ks"} 0"#,
        r#"powerbirth_drift_column_drifted{model="risk",window="24h",column="BS",method="ks"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
}

/// With `[drift] max_rows = 100`, the week's 1,610 predictions are read every 17th in time
/// order: 95 of them, the report saying how many the window held.
async fn a_busy_window_is_read_evenly_up_to_max_rows(
    store: &Store,
    risk: &RiskConfig,
    tmp: &Path,
    now: i64,
) {
    let config = DriftConfig {
        max_rows: 100,
        ..drift_config(tmp)
    };
    let job = DriftJob::new(&config, risk, store.clone(), DriftMetrics::default()).unwrap();
    let week = [config.windows[1].clone()];
    let outcomes = job
        .run(&week, now, Some(&tmp.join("sampled")))
        .await
        .unwrap();
    let Outcome::Saved { report, .. } = &outcomes[0] else {
        panic!("no report: {outcomes:?}");
    };
    assert_eq!((report.current_rows, report.logged_rows), (95, 1610));
}

async fn the_daily_drift_job_compares_the_training_reference_with_a_day_and_a_week_of_predictions()
{
    let tmp = tempfile::tempdir().unwrap();
    let (store, url, _db) = fresh_store(tmp.path()).await;
    let root = tmp.path().join("models");
    registry_with_reference(&root).await;
    let now = powerbirth::core::now_ms();
    seed_drift(&store, now).await;

    let risk = RiskConfig {
        models_dir: root.clone(),
        ..RiskConfig::default()
    };
    let mut prometheus = Prometheus::with_prefix("powerbirth");
    let gauges = DriftMetrics::register(&mut prometheus);
    let reports = tmp.path().join("monitoring/drift");
    let config = drift_config(&reports);
    let job = DriftJob::new(&config, &risk, store.clone(), gauges).unwrap();
    let outcomes = job.run(&config.windows, now, None).await.unwrap();
    let date = powerbirth::core::calendar::date_of_day(powerbirth::core::calendar::day_of(now));
    let mut saved = Vec::new();
    for o in outcomes {
        let Outcome::Saved { report, dir } = o else {
            panic!("no report: {o:?}");
        };
        assert_eq!(
            dir,
            reports.join(&date).join(format!("risk-{}", report.window))
        );
        saved.push(report);
    }
    let (day, week) = (&saved[0], &saved[1]);
    assert_eq!((day.window.as_str(), day.current_rows), ("24h", 40));
    assert_eq!(
        (week.window.as_str(), week.current_rows),
        ("7d", 40 + 2 * 785)
    );
    assert_eq!((day.version.as_str(), day.reference_rows), (VERSION, 785));
    // A day of sicker patients is dataset drift on the five shifted features (KS, 785-row
    // reference), not on age; the week, mostly the training population, is not.
    assert!(day.report.dataset_drift, "{:?}", day.report);
    let drifted: Vec<&str> = day
        .report
        .columns
        .iter()
        .filter(|c| c.drift)
        .map(|c| c.column.as_str())
        .collect();
    assert_eq!(
        drifted,
        ["SystolicBP", "DiastolicBP", "BS", "BodyTemp", "HeartRate"]
    );
    assert!(day.report.columns.iter().all(|c| c.method == "ks"));
    assert!(!week.report.dataset_drift, "{:?}", week.report);
    assert_eq!(
        week.report.columns.len(),
        6,
        "gestational_week is not a training feature"
    );

    the_reports_are_saved_and_the_gauges_set(&reports.join(&date).join("risk-24h"), &prometheus);

    the_command_line_runs_the_same_job(tmp.path(), &url, &root);
    a_busy_window_is_read_evenly_up_to_max_rows(&store, &risk, tmp.path(), now).await;
    store.close().await;
}
on_both_backends!(
    the_daily_drift_job_compares_the_training_reference_with_a_day_and_a_week_of_predictions
);

/// `n` predictions of `release` in the last hours, the first `high` of them high risk.
fn release_predictions(release: &str, n: usize, high: usize, now: i64) -> Vec<PredictionRecord> {
    let (x, _) = shipped_rows();
    (0..n)
        .map(|i| {
            let id = format!("{release}-{i:04}");
            prediction(id, now - H - i as i64, VERSION, release, &x[i], i < high)
        })
        .collect()
}

fn canary(config: &Path, candidate: &str, baseline: &str) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .arg("--config")
        .arg(config)
        .args([
            "monitor",
            "canary",
            "--candidate",
            candidate,
            "--baseline",
            baseline,
        ])
        .args(["--metric", "risk_high_share", "--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|_| panic!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), json)
}

async fn the_canary_fails_a_release_that_answers_high_risk_more_often() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, url, _db) = fresh_store(tmp.path()).await;
    let now = powerbirth::core::now_ms();
    let mut batch = release_predictions("r-base", 300, 45, now); // 15 %
    batch.extend(release_predictions("r-worse", 300, 90, now)); // 30 %
    batch.extend(release_predictions("r-same", 300, 48, now)); // 16 %
    store.write_predictions(&batch).await.unwrap();
    store.close().await;
    let cfg = tmp.path().join("powerbirth.toml");
    std::fs::write(&cfg, format!("[database]\nurl = \"{url}\"\n")).unwrap();

    let (code, out) = canary(&cfg, "release=r-worse", "release=r-base");
    assert_eq!(code, 1, "{out:#}");
    assert_eq!(out["verdict"], "worse");
    assert_eq!(out["effect"]["test"], "two_proportion_z");
    assert_eq!(
        (
            out["candidate"]["n"].as_u64(),
            out["baseline"]["n"].as_u64()
        ),
        (Some(300), Some(300))
    );
    assert!((out["effect"]["rate_candidate"].as_f64().unwrap() - 0.3).abs() < 1e-12);
    assert!((out["effect"]["difference"].as_f64().unwrap() - 0.15).abs() < 1e-12);

    let (code, out) = canary(&cfg, "release=r-same", "release=r-base");
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["verdict"], "no_difference");
    // The model selector matches the model's version on the prediction log.
    let (code, out) = canary(
        &cfg,
        &format!("release=r-worse,model={VERSION}"),
        "release=r-base",
    );
    assert_eq!((code, out["candidate"]["n"].as_u64()), (1, Some(300)));
    let (code, out) = canary(&cfg, "release=r-worse,model=other", "release=r-base");
    assert_eq!(
        (code, out["verdict"].as_str()),
        (0, Some("insufficient_data"))
    );
}
on_both_backends!(the_canary_fails_a_release_that_answers_high_risk_more_often);

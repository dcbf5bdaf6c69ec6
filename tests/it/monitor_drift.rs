//! `powerbirth monitor drift` and `powerbirth stats`: the drift report equals Evidently 0.7's
//! `DataDriftPreset` (scores to 1e-6, methods, thresholds and verdicts exactly) on the reference
//! and current CSVs `scripts/stats-reference.py` wrote, and the commands print what they say.

use std::path::PathBuf;
use std::process::Command;

use powerbirth::ml::data::read_table;
use powerbirth::ml::drift::{self, MethodChoice, load};

use crate::stats::{assert_close, fixture, num};

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stats/drift")
}

#[test]
fn drift_reports_equal_evidentlys_data_drift_preset() {
    let cases = fixture("drift");
    assert!(cases.len() >= 4);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let dir = fixtures_dir().join(name);
        let reference = read_table(&dir.join("reference.csv")).unwrap();
        let current = read_table(&dir.join("current.csv")).unwrap();
        let integer = load::integer_columns(&dir.join("current.csv"), &current).unwrap();
        for (label, method) in [("auto", MethodChoice::Auto), ("psi", MethodChoice::Psi)] {
            let want = &case[label];
            let got =
                drift::compare(&reference, &current, &|c| integer.contains(c), method).unwrap();
            let want_columns = want["columns"].as_array().unwrap();
            let names: Vec<&str> = got.columns.iter().map(|c| c.column.as_str()).collect();
            let want_names: Vec<&str> = want_columns
                .iter()
                .map(|c| c["column"].as_str().unwrap())
                .collect();
            assert_eq!(names, want_names, "{name}/{label}: columns and their order");
            for (g, w) in got.columns.iter().zip(want_columns) {
                let what = format!("{name}/{label}/{}", g.column);
                assert_eq!(g.method, w["method"].as_str().unwrap(), "{what}: method");
                assert_eq!(g.threshold, num(&w["threshold"]), "{what}: threshold");
                assert_close(&what, "score", g.score, num(&w["score"]), 1e-6);
                assert_eq!(g.drift, w["drift"].as_bool().unwrap(), "{what}: drift");
            }
            assert_close(
                name,
                "share_drifted",
                got.share_drifted,
                num(&want["share_drifted"]),
                1e-12,
            );
            assert_eq!(
                got.dataset_drift,
                want["dataset_drift"].as_bool().unwrap(),
                "{name}/{label}"
            );
        }
    }
}

fn powerbirth(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn monitor_drift_prints_the_json_report_and_writes_the_page() {
    let dir = fixtures_dir().join("maternal_shifted");
    let (r, c) = (dir.join("reference.csv"), dir.join("current.csv"));
    let out = powerbirth(&[
        "monitor",
        "drift",
        "--reference",
        r.to_str().unwrap(),
        "--current",
        c.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["dataset_drift"], true);
    let first = &report["columns"][0];
    for key in ["column", "method", "score", "threshold", "drift"] {
        assert!(
            first.get(key).is_some(),
            "column entry lacks {key}: {first}"
        );
    }

    let tmp = tempfile::tempdir().unwrap();
    let out = powerbirth(&[
        "monitor",
        "drift",
        "--reference",
        r.to_str().unwrap(),
        "--current",
        c.to_str().unwrap(),
        "--format",
        "html",
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(tmp.path().join("drift.html")).unwrap();
    assert!(page.contains("Deriva no conjunto de dados / Dataset drift"));
    // One inline histogram pair per column, nothing fetched from elsewhere.
    assert_eq!(
        page.matches("<svg").count(),
        report["columns"].as_array().unwrap().len()
    );
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
}

#[test]
fn stats_prints_scipys_mann_whitney_for_two_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.txt"), tmp.path().join("b.txt"));
    std::fs::write(&a, "1\n2\n3\n\n4\n").unwrap();
    std::fs::write(&b, "5\n6\n7\n8\n9\n").unwrap();
    let out = powerbirth(&[
        "stats",
        "mann-whitney",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // scipy.stats.mannwhitneyu([1,2,3,4], [5,6,7,8,9]) → U1 = 0, exact p = 2/126.
    assert_eq!(v["statistic"], 0.0);
    assert_close(
        "mwu",
        "p",
        v["p_value"].as_f64().unwrap(),
        2.0 / 126.0,
        1e-12,
    );
    assert_eq!(v["method"], "exact");
    assert_eq!(v["hodges_lehmann"]["estimate"], -4.5); // median of the 20 differences

    std::fs::write(&b, "5\nfive\n").unwrap();
    let out = powerbirth(&["stats", "ks", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn stats_reads_csv_columns() {
    let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/maternal-health-risk/train.csv");
    let spec = |c: &str| format!("{}:{c}", csv.display());
    let out = powerbirth(&[
        "stats",
        "wasserstein",
        &spec("SystolicBP"),
        &spec("SystolicBP"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["distance"], 0.0);
    let out = powerbirth(&[
        "stats",
        "chi-square",
        &spec("RiskLevel"),
        &spec("RiskLevel"),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["p_value"], 1.0);
}

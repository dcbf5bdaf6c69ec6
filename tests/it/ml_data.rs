//! `powerbirth data check` on the shipped data and on broken copies: the known problems of the
//! Maternal Health Risk data are found and reported, an `error` expectation fails the run (exit
//! 1), Parquet reads like CSV, and a suite's mistakes name their line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use sha2::{Digest, Sha256};

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub const SUITE: &str = "data/expectations/maternal-health-risk.yaml";
pub const DATA: &str = "data/maternal-health-risk/train.csv";

fn data_check(suite: &Path, data: &Path, report: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_powerbirth"));
    cmd.args(["data", "check", "--suite"]).arg(suite).arg(data);
    if let Some(r) = report {
        cmd.arg("--report").arg(r);
    }
    cmd.output().unwrap()
}

fn expectation<'a>(
    report: &'a serde_json::Value,
    kind: &str,
    column: Option<&str>,
) -> &'a serde_json::Value {
    report["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["expectation_type"] == kind && column.is_none_or(|c| e["column"] == c))
        .unwrap_or_else(|| panic!("no {kind} in the report"))
}

#[test]
fn the_shipped_data_passes_but_its_duplicates_conflicts_and_heart_rate_of_7_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("dataset_report.json");
    let out = data_check(&repo(SUITE), &repo(DATA), Some(&report_path));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("0 failed with severity error, 3 with severity warn"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL   warn  expect_table_duplicate_row_share_to_be_at_most"),
        "{stdout}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert_eq!(report["rows"], 785);
    let sha = hex::encode(Sha256::digest(std::fs::read(repo(DATA)).unwrap()));
    assert_eq!(report["data_sha256"], sha.as_str());
    let dup = expectation(
        &report,
        "expect_table_duplicate_row_share_to_be_at_most",
        None,
    );
    assert_eq!(dup["observed"]["duplicate_rows"], 439);
    assert_eq!(dup["success"], false);
    let conflicts = expectation(&report, "expect_identical_features_to_have_one_label", None);
    assert_eq!(conflicts["observed"]["conflicting_groups"], 19);
    assert_eq!(conflicts["observed"]["rows_in_conflicting_groups"], 127);
    assert_eq!(conflicts["observed"]["feature_vectors"], 327);
    // The heart rate of 7: within `mostly` for the error check, a failure for the strict warn one.
    let hr: Vec<&serde_json::Value> = report["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["expectation_type"] == "expect_column_values_to_be_between"
                && e["column"] == "HeartRate"
        })
        .collect();
    assert_eq!(hr.len(), 2);
    assert_eq!(hr[0]["success"], true);
    assert_eq!(hr[1]["success"], false);
    assert_eq!(
        hr[1]["observed"]["unexpected_examples"],
        serde_json::json!(["7"])
    );
    let heart = report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "HeartRate")
        .unwrap();
    assert_eq!(heart["min"], 7.0);
}

#[test]
fn an_unknown_label_and_an_empty_cell_fail_the_check_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("broken.csv");
    let mut text = std::fs::read_to_string(repo(DATA)).unwrap();
    text.push_str(",140,90,12,98,80,very high risk\n");
    std::fs::write(&csv, text).unwrap();
    let report_path = dir.path().join("report.json");
    let out = data_check(&repo(SUITE), &csv, Some(&report_path));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL   error expect_column_values_to_be_in_set"),
        "{stdout}"
    );
    assert!(stdout.contains("\"very high risk\""), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert_eq!(report["success"], false);
    assert_eq!(report["failed_errors"], 2);
    let nulls = expectation(&report, "expect_column_values_to_not_be_null", Some("Age"));
    assert_eq!(nulls["observed"]["nulls"], 1);
}

#[test]
fn a_suite_with_an_unknown_key_names_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite.yaml");
    std::fs::write(
        &suite,
        "name: s\nexpectations:\n  - expectation_type: expect_column_to_exist\n    column: Age\n  - expectation_type: expect_column_values_to_be_between\n    column: Age\n    minimum: 3\n",
    )
    .unwrap();
    let out = data_check(&suite, &repo(DATA), None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("suite.yaml:7:") && stderr.contains("minimum"),
        "{stderr}"
    );
}

/// The first `n` rows of the shipped CSV written as Parquet (the numbers as DOUBLE, the label as
/// UTF-8), as the ingestion pipeline writes them.
fn parquet_copy(path: &Path, n: usize) {
    let text = std::fs::read_to_string(repo(DATA)).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .take(n)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let names = [
        "Age",
        "SystolicBP",
        "DiastolicBP",
        "BS",
        "BodyTemp",
        "HeartRate",
    ];
    let mut schema = String::from("message risk {\n");
    for name in names {
        schema.push_str(&format!("  REQUIRED DOUBLE {name};\n"));
    }
    schema.push_str("  REQUIRED BYTE_ARRAY RiskLevel (UTF8);\n}");
    let schema = Arc::new(parse_message_type(&schema).unwrap());
    let file = std::fs::File::create(path).unwrap();
    let mut writer =
        SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::builder().build()))
            .unwrap();
    let mut group = writer.next_row_group().unwrap();
    for j in 0..names.len() {
        let values: Vec<f64> = rows.iter().map(|r| r[j].parse().unwrap()).collect();
        let mut col = group.next_column().unwrap().unwrap();
        col.typed::<DoubleType>()
            .write_batch(&values, None, None)
            .unwrap();
        col.close().unwrap();
    }
    let labels: Vec<ByteArray> = rows
        .iter()
        .map(|r| ByteArray::from(r[6].as_str()))
        .collect();
    let mut col = group.next_column().unwrap().unwrap();
    col.typed::<ByteArrayType>()
        .write_batch(&labels, None, None)
        .unwrap();
    col.close().unwrap();
    group.close().unwrap();
    writer.close().unwrap();
}

#[test]
fn parquet_data_is_checked_like_the_same_rows_in_csv() {
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("risk.parquet");
    parquet_copy(&parquet, 120);
    let csv = dir.path().join("risk.csv");
    let text = std::fs::read_to_string(repo(DATA)).unwrap();
    std::fs::write(
        &csv,
        text.lines().take(121).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let (rp, rc) = (dir.path().join("p.json"), dir.path().join("c.json"));
    let out = data_check(&repo(SUITE), &parquet, Some(&rp));
    assert!(
        out.status.code() == Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    data_check(&repo(SUITE), &csv, Some(&rc));
    let read =
        |p: &Path| serde_json::from_slice::<serde_json::Value>(&std::fs::read(p).unwrap()).unwrap();
    let (p, c) = (read(&rp), read(&rc));
    assert_eq!(p["rows"], 120);
    assert_eq!(p["columns"], c["columns"]);
    assert_eq!(p["expectations"], c["expectations"]);
}

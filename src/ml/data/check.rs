//! Running a suite on a table: per-column statistics, each expectation's observed value and
//! pass/fail, and the data's SHA-256, as the `dataset_report.json` that `powerbirth data check`
//! writes and every trained model carries. Problems are counted and shown, never dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use serde::Serialize;
use serde_json::{Value, json};

use super::expectations::{Expectation, ExpectationKind as K, Severity, Suite, kind_name};
use super::{Column, Table, Values};

/// Statistics of one column.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ColumnStats {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub nulls: usize,
    pub distinct: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Sample standard deviation (n − 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sd: Option<f64>,
    /// Text columns: how often each value occurs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<BTreeMap<String, usize>>,
}

/// One expectation's outcome.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExpectationResult {
    pub expectation_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub severity: Severity,
    pub success: bool,
    /// What was measured (a share, a count, a type), in the expectation's terms.
    pub observed: Value,
    /// One line a person reads in the table.
    pub summary: String,
}

/// The dataset report (`dataset_report.json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckReport {
    pub suite: String,
    pub data: String,
    pub data_sha256: String,
    pub rows: usize,
    pub columns: Vec<ColumnStats>,
    pub expectations: Vec<ExpectationResult>,
    /// No `error` expectation failed.
    pub success: bool,
    pub failed_errors: usize,
    pub failed_warnings: usize,
}

/// Runs every expectation of `suite` on `table`.
pub fn run_suite(suite: &Suite, table: &Table, data: &str, data_sha256: &str) -> CheckReport {
    let expectations: Vec<ExpectationResult> = suite
        .expectations
        .iter()
        .map(|e| evaluate(e, table))
        .collect();
    let failed = |s: Severity| {
        expectations
            .iter()
            .filter(|r| !r.success && r.severity == s)
            .count()
    };
    let failed_errors = failed(Severity::Error);
    CheckReport {
        suite: suite.name.clone(),
        data: data.to_string(),
        data_sha256: data_sha256.to_string(),
        rows: table.rows,
        columns: table.columns.iter().map(column_stats).collect(),
        failed_warnings: failed(Severity::Warn),
        success: failed_errors == 0,
        failed_errors,
        expectations,
    }
}

fn column_stats(c: &Column) -> ColumnStats {
    let nulls = (0..c.values.len()).filter(|&i| c.values.is_null(i)).count();
    let distinct: BTreeSet<String> = (0..c.values.len())
        .filter_map(|i| c.values.key(i))
        .collect();
    let mut stats = ColumnStats {
        name: c.name.clone(),
        type_: c.values.type_name().into(),
        nulls,
        distinct: distinct.len(),
        min: None,
        max: None,
        mean: None,
        sd: None,
        counts: None,
    };
    match &c.values {
        Values::Number(v) => {
            let xs: Vec<f64> = v.iter().flatten().copied().collect();
            if !xs.is_empty() {
                let n = xs.len() as f64;
                let mean = xs.iter().sum::<f64>() / n;
                let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
                stats.min = xs.iter().copied().reduce(f64::min);
                stats.max = xs.iter().copied().reduce(f64::max);
                stats.mean = Some(mean);
                stats.sd = Some(var.sqrt());
            }
        }
        Values::Text(v) => {
            let mut counts = BTreeMap::new();
            for s in v.iter().flatten() {
                *counts.entry(s.clone()).or_insert(0) += 1;
            }
            stats.counts = Some(counts);
        }
    }
    stats
}

/// One arm per kind; long because it is one table of the seven kinds, each a few lines.
fn evaluate(e: &Expectation, table: &Table) -> ExpectationResult {
    let column = e.column.as_deref().and_then(|n| table.column(n));
    let result = |success: bool, observed: Value, summary: String| ExpectationResult {
        expectation_type: kind_name(e.expectation_type),
        column: e.column.clone(),
        severity: e.severity,
        success,
        observed,
        summary,
    };
    let needs_column = !matches!(
        e.expectation_type,
        K::ExpectTableDuplicateRowShareToBeAtMost | K::ExpectIdenticalFeaturesToHaveOneLabel
    );
    if needs_column && column.is_none() {
        return result(false, json!("missing"), "column is missing".into());
    }
    let mostly = e.mostly.unwrap_or(1.0);
    match e.expectation_type {
        K::ExpectColumnToExist => result(true, json!("present"), "present".into()),
        K::ExpectColumnValuesToBeOfType => {
            let found = column.map_or("", |c| c.values.type_name());
            let want = e.type_.as_deref().unwrap_or("");
            result(
                found == want,
                json!(found),
                format!("type {found}, expected {want}"),
            )
        }
        K::ExpectColumnValuesToBeBetween => {
            let Some(Values::Number(v)) = column.map(|c| &c.values) else {
                return result(false, json!("not numeric"), "not numeric".into());
            };
            let (lo, hi) = (
                e.min_value.unwrap_or(f64::NEG_INFINITY),
                e.max_value.unwrap_or(f64::INFINITY),
            );
            let present: Vec<f64> = v.iter().flatten().copied().collect();
            let outside: Vec<f64> = present
                .iter()
                .copied()
                .filter(|x| *x < lo || *x > hi)
                .collect();
            share_result(result, present.len(), &outside, mostly, |x| format!("{x}"))
        }
        K::ExpectColumnValuesToBeInSet => {
            let set: BTreeSet<&str> = e.value_set.iter().flatten().map(String::as_str).collect();
            let c = column.expect("checked above");
            let present: Vec<String> = (0..table.rows).filter_map(|i| c.values.key(i)).collect();
            let outside: Vec<String> = present
                .iter()
                .filter(|x| !set.contains(x.as_str()))
                .cloned()
                .collect();
            share_result(result, present.len(), &outside, mostly, |x| {
                format!("{x:?}")
            })
        }
        K::ExpectColumnValuesToNotBeNull => {
            let c = column.expect("checked above");
            let nulls = (0..table.rows).filter(|&i| c.values.is_null(i)).count();
            let share = share(table.rows - nulls, table.rows);
            result(
                share >= mostly,
                json!({"non_null_share": share, "nulls": nulls}),
                format!(
                    "{nulls} null ({:.1}% non-null, needs ≥ {:.1}%)",
                    share * 100.0,
                    mostly * 100.0
                ),
            )
        }
        K::ExpectTableDuplicateRowShareToBeAtMost => {
            let all: Vec<&Column> = table.columns.iter().collect();
            let distinct: BTreeSet<Vec<Option<String>>> =
                (0..table.rows).map(|i| table.row_key(i, &all)).collect();
            let duplicates = table.rows - distinct.len();
            let s = share(duplicates, table.rows);
            let max = e.max_share.unwrap_or(0.0);
            result(
                s <= max,
                json!({"duplicate_rows": duplicates, "duplicate_share": s, "distinct_rows": distinct.len()}),
                format!(
                    "{duplicates} duplicate rows ({:.1}%, at most {:.1}%)",
                    s * 100.0,
                    max * 100.0
                ),
            )
        }
        K::ExpectIdenticalFeaturesToHaveOneLabel => conflicts(e, table, result),
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// Great Expectations' `mostly`: the share of non-null values that pass must reach it.
fn share_result<T>(
    result: impl Fn(bool, Value, String) -> ExpectationResult,
    present: usize,
    unexpected: &[T],
    mostly: f64,
    show: impl Fn(&T) -> String,
) -> ExpectationResult {
    let passing = share(present - unexpected.len(), present);
    let mut examples: Vec<String> = unexpected.iter().map(&show).collect();
    examples.sort();
    examples.dedup();
    examples.truncate(5);
    let mut summary = format!(
        "{} unexpected ({:.1}% pass, needs ≥ {:.1}%)",
        unexpected.len(),
        passing * 100.0,
        mostly * 100.0
    );
    if !examples.is_empty() {
        let _ = write!(summary, ": {}", examples.join(", "));
    }
    result(
        passing >= mostly,
        json!({"unexpected_count": unexpected.len(), "passing_share": passing, "unexpected_examples": examples}),
        summary,
    )
}

/// A row's cells in some columns, as compared for identity.
type RowKey = Vec<Option<String>>;

fn conflicts(
    e: &Expectation,
    table: &Table,
    result: impl Fn(bool, Value, String) -> ExpectationResult,
) -> ExpectationResult {
    let names = e.columns.clone().unwrap_or_default();
    let features: Option<Vec<&Column>> = names.iter().map(|n| table.column(n)).collect();
    let label = e.label.as_deref().and_then(|n| table.column(n));
    let (Some(features), Some(label)) = (features, label) else {
        return result(
            false,
            json!("missing columns"),
            "a named column is missing".into(),
        );
    };
    let mut groups: HashMap<RowKey, (BTreeSet<Option<String>>, usize)> = HashMap::new();
    for i in 0..table.rows {
        let g = groups.entry(table.row_key(i, &features)).or_default();
        g.0.insert(label.values.key(i));
        g.1 += 1;
    }
    let conflicting: Vec<usize> = groups
        .values()
        .filter(|g| g.0.len() > 1)
        .map(|g| g.1)
        .collect();
    let max = e.max_conflicting_groups.unwrap_or(0);
    let rows: usize = conflicting.iter().sum();
    result(
        conflicting.len() <= max,
        json!({"feature_vectors": groups.len(), "conflicting_groups": conflicting.len(), "rows_in_conflicting_groups": rows}),
        format!(
            "{} of {} distinct feature vectors carry more than one label ({rows} rows)",
            conflicting.len(),
            groups.len()
        ),
    )
}

/// The report as the table `powerbirth data check` prints.
pub fn render_table(report: &CheckReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "suite {}  data {}  rows {}",
        report.suite, report.data, report.rows
    );
    let _ = writeln!(out, "sha256 {}\n", report.data_sha256);
    let _ = writeln!(
        out,
        "{:<14} {:<7} {:>5} {:>8} {:>10} {:>10} {:>10}",
        "COLUMN", "TYPE", "NULLS", "DISTINCT", "MIN", "MAX", "MEAN"
    );
    let num = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
    for c in &report.columns {
        let _ = writeln!(
            out,
            "{:<14} {:<7} {:>5} {:>8} {:>10} {:>10} {:>10}",
            c.name,
            c.type_,
            c.nulls,
            c.distinct,
            num(c.min),
            num(c.max),
            num(c.mean)
        );
    }
    let _ = writeln!(
        out,
        "\n{:<6} {:<5} {:<46} {:<12} DETAIL",
        "RESULT", "LEVEL", "EXPECTATION", "COLUMN"
    );
    for r in &report.expectations {
        let verdict = if r.success { "ok" } else { "FAIL" };
        let level = match r.severity {
            Severity::Error => "error",
            Severity::Warn => "warn",
        };
        let column = r.column.as_deref().unwrap_or("-");
        let _ = writeln!(
            out,
            "{verdict:<6} {level:<5} {:<46} {column:<12} {}",
            r.expectation_type, r.summary
        );
    }
    let _ = writeln!(
        out,
        "\n{} expectations: {} failed with severity error, {} with severity warn",
        report.expectations.len(),
        report.failed_errors,
        report.failed_warnings
    );
    out
}

//! Data drift between a reference and a current table, column by column, with Evidently 0.7's
//! `DataDriftPreset` defaults (`evidently/legacy/calculations/stattests/registry.py`,
//! `_get_default_stattest`; scores equal Evidently's to 1e-6 on `tests/fixtures/stats/drift.json`):
//!
//! - column types as Evidently infers them on the current data (`core/datasets.py`,
//!   `infer_column_type`): floats are numerical; integers are categorical with at most 10
//!   distinct values, else numerical; text is categorical when at most half its cells are
//!   distinct (more is free text, which this monitor leaves out); empty columns are left out;
//! - reference ≤ 1,000 rows: numerical with more than 5 distinct values (both samples together)
//!   → KS p-value (drift at ≤ 0.05); otherwise chi-square (> 2 values) or the z-test
//!   (drift at < 0.05);
//! - reference > 1,000 rows: numerical with more than 5 values → normed Wasserstein (≥ 0.1),
//!   otherwise Jensen–Shannon (≥ 0.1);
//! - `--method psi`: PSI for every column (≥ 0.1);
//! - dataset drift when the share of drifted columns is ≥ 0.5.
//!
//! Nulls and ±inf are dropped per column first, as Evidently does. Columns come out numerical
//! first, then categorical, each in the current file's order (Evidently's order).
//!
//! [`job`] is the daily drift job over the logged predictions (`[drift]`, [`config`]); its
//! reports set the gauges of [`metrics`].

pub mod config;
pub mod html;
pub mod job;
pub mod load;
pub mod metrics;

use serde::Serialize;

use crate::ml::data::{Table, Values};
use crate::stats::evidently::{self as ev, DriftScore, Sample};

/// Which way drift is chosen per column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodChoice {
    /// Evidently's default selection.
    Auto,
    /// PSI for every column.
    Psi,
}

/// One column's verdict (the JSON shape of `monitor drift --format json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnDrift {
    pub column: String,
    /// `ks`, `chisquare`, `z`, `wasserstein`, `jensenshannon` or `psi`.
    pub method: &'static str,
    pub score: f64,
    pub threshold: f64,
    pub drift: bool,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    pub columns: Vec<ColumnDrift>,
    pub share_drifted: f64,
    pub dataset_drift: bool,
}

/// Why two tables cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error("column `{0}` is in the current data but not in the reference")]
    MissingColumn(String),
    #[error("column `{column}`: {message}")]
    Column { column: String, message: String },
    #[error("no column to compare (every column is empty, free text or missing)")]
    NoColumns,
}

/// A column's type as Evidently infers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Numerical,
    Categorical,
}

/// One column's cleaned values, ready for the tests.
pub struct Prepared {
    pub name: String,
    pub kind: Kind,
    pub integer: bool,
    pub reference: Cleaned,
    pub current: Cleaned,
}

/// Values without nulls and infinities.
pub enum Cleaned {
    Numbers(Vec<f64>),
    Labels(Vec<String>),
}

impl Prepared {
    /// The samples as the tests take them: numerical columns as numbers, categorical ones as
    /// labels (numbers written out; only equality and the smallest key matter there).
    pub fn samples(&self) -> (Sample<'_>, Sample<'_>) {
        (
            sample(&self.reference, self.integer),
            sample(&self.current, self.integer),
        )
    }
}

fn sample(c: &Cleaned, integer: bool) -> Sample<'_> {
    match c {
        Cleaned::Numbers(v) => Sample::Numeric { values: v, integer },
        Cleaned::Labels(v) => Sample::Categorical(v),
    }
}

/// Compares `current` with `reference`. `integer` says which current columns have an integer
/// type in their file (see [`load`]).
pub fn compare(
    reference: &Table,
    current: &Table,
    integer: &dyn Fn(&str) -> bool,
    method: MethodChoice,
) -> Result<DriftReport, DriftError> {
    let prepared = prepare(reference, current, integer)?;
    let columns: Vec<ColumnDrift> = prepared.iter().map(|p| column_drift(p, method)).collect();
    if columns.is_empty() {
        return Err(DriftError::NoColumns);
    }
    let drifted = columns.iter().filter(|c| c.drift).count();
    let share_drifted = drifted as f64 / columns.len() as f64;
    Ok(DriftReport {
        columns,
        share_drifted,
        dataset_drift: share_drifted >= 0.5,
    })
}

/// The columns to compare, typed and cleaned, in Evidently's order.
pub fn prepare(
    reference: &Table,
    current: &Table,
    integer: &dyn Fn(&str) -> bool,
) -> Result<Vec<Prepared>, DriftError> {
    let mut numerical = Vec::new();
    let mut categorical = Vec::new();
    for col in &current.columns {
        let Some(kind) = infer_kind(&col.values, integer(&col.name)) else {
            continue;
        };
        let reference_col = reference
            .column(&col.name)
            .ok_or_else(|| DriftError::MissingColumn(col.name.clone()))?;
        let as_numbers = kind == Kind::Numerical;
        let clean = |v: &Values, side: &str| {
            cleaned(v, as_numbers).ok_or_else(|| DriftError::Column {
                column: col.name.clone(),
                message: format!(
                    "the {side} data has no usable value (or text in a numerical column)"
                ),
            })
        };
        let p = Prepared {
            name: col.name.clone(),
            kind,
            integer: integer(&col.name),
            reference: clean(&reference_col.values, "reference")?,
            current: clean(&col.values, "current")?,
        };
        match kind {
            Kind::Numerical => numerical.push(p),
            Kind::Categorical => categorical.push(p),
        }
    }
    numerical.extend(categorical);
    Ok(numerical)
}

/// Evidently's `infer_column_type` (`None`: free text or empty, left out).
fn infer_kind(values: &Values, integer: bool) -> Option<Kind> {
    match values {
        Values::Number(v) => {
            let present: Vec<f64> = v.iter().flatten().copied().collect();
            if present.is_empty() {
                return None;
            }
            if integer && distinct(present.iter().map(|x| x.to_bits())) <= 10 {
                Some(Kind::Categorical)
            } else {
                Some(Kind::Numerical)
            }
        }
        Values::Text(v) => {
            let present: Vec<&String> = v.iter().flatten().collect();
            if present.is_empty() || distinct(present.iter()) as f64 > present.len() as f64 * 0.5 {
                None
            } else {
                Some(Kind::Categorical)
            }
        }
    }
}

fn distinct<T: std::hash::Hash + Eq>(it: impl Iterator<Item = T>) -> usize {
    it.collect::<std::collections::HashSet<T>>().len()
}

/// Values without nulls and ±inf: numbers when `as_numbers`, labels otherwise (numbers written
/// with Rust's shortest round-trip form). `None` when nothing is left or a numerical column
/// holds text.
fn cleaned(values: &Values, as_numbers: bool) -> Option<Cleaned> {
    let out = match (values, as_numbers) {
        (Values::Number(v), true) => Cleaned::Numbers(
            v.iter()
                .flatten()
                .copied()
                .filter(|x| x.is_finite())
                .collect(),
        ),
        (Values::Number(v), false) => Cleaned::Labels(
            v.iter()
                .flatten()
                .filter(|x| x.is_finite())
                .map(|x| format!("{x:?}"))
                .collect(),
        ),
        (Values::Text(v), false) => Cleaned::Labels(v.iter().flatten().cloned().collect()),
        (Values::Text(_), true) => return None,
    };
    let empty = match &out {
        Cleaned::Numbers(v) => v.is_empty(),
        Cleaned::Labels(v) => v.is_empty(),
    };
    (!empty).then_some(out)
}

/// The test Evidently would pick for this column, run.
fn column_drift(p: &Prepared, method: MethodChoice) -> ColumnDrift {
    let (r, c) = p.samples();
    let (name, threshold, result): (&'static str, f64, DriftScore) = if method == MethodChoice::Psi
    {
        ("psi", 0.1, ev::psi(r, c))
    } else {
        let n_values = ev::distinct_values(r, c);
        let small = match &p.reference {
            Cleaned::Numbers(v) => v.len() <= 1000,
            Cleaned::Labels(v) => v.len() <= 1000,
        };
        let numbers = |x: &Cleaned| match x {
            Cleaned::Numbers(v) => v.clone(),
            Cleaned::Labels(_) => Vec::new(),
        };
        match (small, p.kind == Kind::Numerical && n_values > 5) {
            (true, true) => (
                "ks",
                0.05,
                ev::ks_test(&numbers(&p.reference), &numbers(&p.current)),
            ),
            (true, false) if n_values > 2 => ("chisquare", 0.05, ev::chisquare_test(r, c)),
            (true, false) => ("z", 0.05, ev::z_test(r, c)),
            (false, true) => (
                "wasserstein",
                0.1,
                ev::wasserstein_normed(&numbers(&p.reference), &numbers(&p.current)),
            ),
            (false, false) => ("jensenshannon", 0.1, ev::jensenshannon(r, c)),
        }
    };
    ColumnDrift {
        column: p.name.clone(),
        method: name,
        score: result.score,
        threshold,
        drift: result.drift,
    }
}

//! Expectation suites: a YAML list of checks named as in Great Expectations
//! (<https://greatexpectations.io/expectations/>), so a data scientist recognises them, each with
//! a severity (`error` fails the run, `warn` only reports). Two checks have no Great Expectations
//! equivalent and carry our own names: the share of exact duplicate rows, and identical feature
//! vectors with different labels. Unknown keys are refused with the file's line.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How much a failed expectation matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The check fails the run (`powerbirth data check` exits 1).
    #[default]
    Error,
    /// The check is reported, the run goes on.
    Warn,
}

/// The checks a suite may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectationKind {
    ExpectColumnToExist,
    ExpectColumnValuesToBeOfType,
    ExpectColumnValuesToBeBetween,
    ExpectColumnValuesToBeInSet,
    ExpectColumnValuesToNotBeNull,
    /// Ours: share of rows that repeat an earlier row exactly, at most `max_share`.
    ExpectTableDuplicateRowShareToBeAtMost,
    /// Ours: identical values in `columns` never carry different `label`s (at most
    /// `max_conflicting_groups` such groups).
    ExpectIdenticalFeaturesToHaveOneLabel,
}

/// One expectation as written; which fields apply depends on `expectation_type` (checked by
/// [`Suite::parse`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub expectation_type: ExpectationKind,
    #[serde(default)]
    pub severity: Severity,
    pub column: Option<String>,
    /// `number` or `string` (for `expect_column_values_to_be_of_type`).
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
    /// Share of non-null values that must pass (Great Expectations' `mostly`; default 1).
    pub mostly: Option<f64>,
    pub value_set: Option<Vec<String>>,
    pub max_share: Option<f64>,
    pub columns: Option<Vec<String>>,
    pub label: Option<String>,
    pub max_conflicting_groups: Option<usize>,
    /// Free text shown in the report (why the bound is what it is).
    pub notes: Option<String>,
}

/// A parsed and checked suite.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// The suite's name, shown in reports.
    pub name: String,
    pub expectations: Vec<Expectation>,
}

/// A suite that could not be loaded: the file, and the line where serde found the problem.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Yaml {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: expectations[{index}] ({kind}): {message}")]
    Invalid {
        path: PathBuf,
        index: usize,
        kind: String,
        message: String,
    },
}

impl Suite {
    /// Reads and checks the suite in `path`.
    pub fn load(path: &Path) -> Result<Suite, SuiteError> {
        let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Suite::parse(&text, path)
    }

    /// Parses `text` (read from `path`, named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Suite, SuiteError> {
        let suite: Suite = serde_norway::from_str(text).map_err(|e| SuiteError::Yaml {
            path: path.to_path_buf(),
            line: e.location().map_or(0, |l| l.line()),
            message: e.to_string(),
        })?;
        for (index, e) in suite.expectations.iter().enumerate() {
            e.validate().map_err(|message| SuiteError::Invalid {
                path: path.to_path_buf(),
                index,
                kind: kind_name(e.expectation_type),
                message,
            })?;
        }
        Ok(suite)
    }
}

/// The snake_case name of a kind, as written in the suite.
pub fn kind_name(kind: ExpectationKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Expectation {
    /// The fields this kind needs are present, and no field of another kind is set.
    fn validate(&self) -> Result<(), String> {
        use ExpectationKind as K;
        let (required, allowed): (&[&str], &[&str]) = match self.expectation_type {
            K::ExpectColumnToExist => (&["column"], &[]),
            K::ExpectColumnValuesToBeOfType => (&["column", "type"], &[]),
            K::ExpectColumnValuesToBeBetween => {
                (&["column"], &["min_value", "max_value", "mostly"])
            }
            K::ExpectColumnValuesToBeInSet => (&["column", "value_set"], &["mostly"]),
            K::ExpectColumnValuesToNotBeNull => (&["column"], &["mostly"]),
            K::ExpectTableDuplicateRowShareToBeAtMost => (&["max_share"], &[]),
            K::ExpectIdenticalFeaturesToHaveOneLabel => {
                (&["columns", "label"], &["max_conflicting_groups"])
            }
        };
        for (name, set) in self.set_fields() {
            if required.contains(&name) && !set {
                return Err(format!("`{name}` is required"));
            }
            if set && !required.contains(&name) && !allowed.contains(&name) {
                return Err(format!("`{name}` does not apply to this expectation"));
            }
        }
        if self.expectation_type == K::ExpectColumnValuesToBeBetween
            && self.min_value.is_none()
            && self.max_value.is_none()
        {
            return Err("`min_value` or `max_value` is required".into());
        }
        if let Some(t) = &self.type_
            && t != "number"
            && t != "string"
        {
            return Err(format!("`type` must be `number` or `string`, not `{t}`"));
        }
        for (name, v) in [("mostly", self.mostly), ("max_share", self.max_share)] {
            if v.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                return Err(format!("`{name}` must be between 0 and 1"));
            }
        }
        Ok(())
    }

    fn set_fields(&self) -> [(&'static str, bool); 9] {
        [
            ("column", self.column.is_some()),
            ("type", self.type_.is_some()),
            ("min_value", self.min_value.is_some()),
            ("max_value", self.max_value.is_some()),
            ("mostly", self.mostly.is_some()),
            ("value_set", self.value_set.is_some()),
            ("max_share", self.max_share.is_some()),
            ("columns", self.columns.is_some()),
            ("label", self.label.is_some()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_is_refused_with_its_line() {
        let text = "name: s\nexpectations:\n  - expectation_type: expect_column_to_exist\n    column: Age\n    colour: red\n";
        let err = Suite::parse(text, Path::new("suite.yaml")).unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("suite.yaml:5:"), "{shown}");
        assert!(shown.contains("colour"), "{shown}");
    }

    #[test]
    fn a_field_of_another_expectation_is_refused() {
        let text = "name: s\nexpectations:\n  - expectation_type: expect_column_to_exist\n    column: Age\n    mostly: 0.9\n";
        let err = Suite::parse(text, Path::new("s.yaml")).unwrap_err();
        assert!(err.to_string().contains("`mostly` does not apply"), "{err}");
    }
}

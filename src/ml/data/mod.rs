//! Tabular data for training and its checks: reading CSV and Parquet into one [`Table`]
//! (`read`), expectation suites in YAML with Great Expectations' names (`expectations`), and
//! running a suite into a dataset report (`check`, behind `powerbirth data check`).

pub mod check;
pub mod expectations;
pub mod read;

pub use check::{CheckReport, ColumnStats, ExpectationResult, run_suite};
pub use expectations::{Expectation, ExpectationKind, Severity, Suite, SuiteError};
pub use read::{DataError, read_table, sha256_file};

/// One column's values: numbers or text, `None` where the cell is empty (null).
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Every non-empty cell parsed as a number.
    Number(Vec<Option<f64>>),
    /// At least one non-empty cell is not a number.
    Text(Vec<Option<String>>),
}

impl Values {
    /// Number of cells.
    pub fn len(&self) -> usize {
        match self {
            Values::Number(v) => v.len(),
            Values::Text(v) => v.len(),
        }
    }

    /// True when the column has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether cell `i` is null.
    pub fn is_null(&self, i: usize) -> bool {
        match self {
            Values::Number(v) => v[i].is_none(),
            Values::Text(v) => v[i].is_none(),
        }
    }

    /// Cell `i` as text, the way it is compared for duplicates (`None` for null).
    pub fn key(&self, i: usize) -> Option<String> {
        match self {
            Values::Number(v) => v[i].map(|x| format!("{x:?}")),
            Values::Text(v) => v[i].clone(),
        }
    }

    /// The type name a suite's `expect_column_values_to_be_of_type` compares with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Values::Number(_) => "number",
            Values::Text(_) => "string",
        }
    }
}

/// A named column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Values,
}

/// A table read from CSV or Parquet: columns in file order, all of `rows` cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: usize,
}

impl Table {
    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Row `i`'s cells in the given columns, as comparison keys (see [`Values::key`]).
    pub fn row_key(&self, i: usize, columns: &[&Column]) -> Vec<Option<String>> {
        columns.iter().map(|c| c.values.key(i)).collect()
    }
}

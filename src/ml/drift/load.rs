//! Which columns of a data file pandas would read as integers, for Evidently's column typing
//! (an integer column with at most 10 distinct values is categorical; a float one never is).
//! [`crate::ml::data::Table`] keeps numbers as f64, so this looks at the file itself: in a CSV,
//! a column is an integer one when every cell is an integer literal (`-3`, `42`; no empty cell,
//! which pandas reads as NaN and so as float); in Parquet, when its physical type is INT32 or
//! INT64 and no cell is null.

use std::collections::HashSet;
use std::path::Path;

use parquet::basic::Type as PhysicalType;
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::ml::data::{DataError, Table};

/// Names of the integer columns of `path` (already read into `table`).
pub fn integer_columns(path: &Path, table: &Table) -> Result<HashSet<String>, DataError> {
    let is_parquet = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let mut out = HashSet::new();
    if is_parquet {
        let io = |source| DataError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let reader = SerializedFileReader::new(file).map_err(|e| DataError::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        for c in schema.columns() {
            let int = matches!(c.physical_type(), PhysicalType::INT32 | PhysicalType::INT64);
            let complete = table
                .column(c.name())
                .is_some_and(|col| (0..col.values.len()).all(|i| !col.values.is_null(i)));
            if int && complete {
                out.insert(c.name().to_string());
            }
        }
        return Ok(out);
    }
    let csv_error = |e: csv::Error| DataError::Csv {
        path: path.to_path_buf(),
        line: e.position().map_or(0, |p| p.line()),
        message: e.to_string(),
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let names: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut integer = vec![true; names.len()];
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        for (i, flag) in integer.iter_mut().enumerate() {
            *flag &= record.get(i).map(str::trim).is_some_and(is_integer_literal);
        }
    }
    out.extend(
        names
            .into_iter()
            .zip(integer)
            .filter(|(_, i)| *i)
            .map(|(n, _)| n),
    );
    Ok(out)
}

fn is_integer_literal(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_whole_numbers_are_integer_literals() {
        assert!(is_integer_literal("-42"));
        assert!(!is_integer_literal("98.0"));
        assert!(!is_integer_literal(""));
        assert!(!is_integer_literal("1e3"));
    }
}

//! Reading a data file into a [`Table`]: CSV (header row; a column is numeric when every
//! non-empty cell parses as a number) or Parquet (the `parquet` crate's row API, no Arrow), and
//! the SHA-256 that names exactly which bytes a report or a model came from.

use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use sha2::{Digest, Sha256};

use super::{Column, Table, Values};

/// Why a data file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: not a readable Parquet file: {message}")]
    Parquet { path: PathBuf, message: String },
    #[error("{path}: unknown data format (expected .csv or .parquet)")]
    Format { path: PathBuf },
}

/// Reads `path` by its extension: `.csv` or `.parquet`.
pub fn read_table(path: &Path) -> Result<Table, DataError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => read_csv(path),
        Some(e) if e.eq_ignore_ascii_case("parquet") => read_parquet(path),
        _ => Err(DataError::Format {
            path: path.to_path_buf(),
        }),
    }
}

/// Hex SHA-256 of the file's bytes.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

fn read_csv(path: &Path) -> Result<Table, DataError> {
    let csv_error = |e: csv::Error| DataError::Csv {
        path: path.to_path_buf(),
        line: e.position().map_or(0, |p| p.line()),
        message: e.to_string(),
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(source) => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => DataError::Csv {
            path: path.to_path_buf(),
            line: 1,
            message: format!("{other:?}"),
        },
    })?;
    let names: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut cells: Vec<Vec<Option<String>>> = vec![Vec::new(); names.len()];
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        for (i, column) in cells.iter_mut().enumerate() {
            let cell = record.get(i).map(str::trim).unwrap_or("");
            column.push((!cell.is_empty()).then(|| cell.to_string()));
        }
    }
    let rows = cells.first().map_or(0, Vec::len);
    let columns = names
        .into_iter()
        .zip(cells)
        .map(|(name, cells)| Column {
            name,
            values: typed(cells),
        })
        .collect();
    Ok(Table { columns, rows })
}

/// Numbers when every non-empty cell parses as one, text otherwise.
fn typed(cells: Vec<Option<String>>) -> Values {
    let numbers: Option<Vec<Option<f64>>> = cells
        .iter()
        .map(|c| match c {
            None => Some(None),
            Some(s) => s.parse::<f64>().ok().map(Some),
        })
        .collect();
    match numbers {
        Some(n) => Values::Number(n),
        None => Values::Text(cells),
    }
}

fn read_parquet(path: &Path) -> Result<Table, DataError> {
    let parquet_error = |e: parquet::errors::ParquetError| DataError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = SerializedFileReader::new(file).map_err(parquet_error)?;
    let names: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let mut cells: Vec<Vec<Option<String>>> = vec![Vec::new(); names.len()];
    let mut numeric = vec![true; names.len()];
    for row in reader.get_row_iter(None).map_err(parquet_error)? {
        let row = row.map_err(parquet_error)?;
        for (i, (_, field)) in row.get_column_iter().enumerate().take(names.len()) {
            let (cell, is_number) = parquet_cell(field);
            numeric[i] &= is_number || cell.is_none();
            cells[i].push(cell);
        }
    }
    let rows = cells.first().map_or(0, Vec::len);
    let columns = names
        .into_iter()
        .zip(cells)
        .zip(numeric)
        .map(|((name, cells), numeric)| Column {
            name,
            values: if numeric {
                typed(cells)
            } else {
                Values::Text(cells)
            },
        })
        .collect();
    Ok(Table { columns, rows })
}

/// A Parquet field as text, and whether it was a number.
fn parquet_cell(field: &Field) -> (Option<String>, bool) {
    match field {
        Field::Null => (None, true),
        Field::Byte(_)
        | Field::Short(_)
        | Field::Int(_)
        | Field::Long(_)
        | Field::UByte(_)
        | Field::UShort(_)
        | Field::UInt(_)
        | Field::ULong(_)
        | Field::Float(_)
        | Field::Double(_) => (Some(field.to_string()), true),
        Field::Str(s) => (Some(s.clone()), false),
        other => (Some(other.to_string()), false),
    }
}

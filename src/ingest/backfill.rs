//! `powerbirth data anonymize IN OUT`: ingestion's anonymisation rules applied to a whole table
//! (CSV or Parquet), for back-fills of data that never went through the stream. Columns are
//! recognised by name: direct identifiers are dropped, patient ids pseudonymised with the same
//! key and helper as ingestion, dates of birth turned into `age_years`, free-text notes dropped,
//! and every other text column redacted with the guard's PII code and the name rule.

use std::path::Path;
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use super::anonymize::{Anonymizer, age_years, redact_text};
use super::event::parse_rfc3339;

/// One column's cells.
#[derive(Debug, Clone, PartialEq)]
pub enum Cells {
    Number(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
}

/// A named column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub cells: Cells,
}

/// Columns holding a direct identifier: never written.
const DIRECT: &[&str] = &[
    "name",
    "nome",
    "full_name",
    "nome_completo",
    "first_name",
    "last_name",
    "cpf",
    "cns",
    "cartao_sus",
    "rg",
    "phone",
    "telefone",
    "celular",
    "email",
    "e_mail",
    "address",
    "endereco",
];
/// Columns holding the patient's id: pseudonymised.
const PATIENT_ID: &[&str] = &["patient_id", "paciente_id", "user_id"];
/// Exact dates of birth: become `age_years`.
const BIRTH: &[&str] = &["date_of_birth", "data_nascimento", "birth_date"];
/// Free-text notes: dropped (as `measurement.note` is).
const NOTES: &[&str] = &["note", "notes", "observacao", "observacoes"];
/// When each row happened (the reference for the age).
const WHEN: &[&str] = &["occurred_at", "measured_at"];

/// What was done to which column.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    pub dropped: Vec<String>,
    pub pseudonymised: Vec<String>,
    pub redacted: Vec<String>,
    /// The birth-date column turned into `age_years`.
    pub aged: Option<String>,
}

fn is(list: &[&str], name: &str) -> bool {
    list.contains(&name.trim().to_lowercase().as_str())
}

/// Applies the rules; `now_ms` is the age reference for rows without `occurred_at`.
pub fn anonymize_columns(
    columns: Vec<Column>,
    rows: usize,
    anonymizer: &Anonymizer,
    now_ms: i64,
) -> (Vec<Column>, Report) {
    let when: Vec<i64> = columns
        .iter()
        .find(|c| is(WHEN, &c.name))
        .map(|c| {
            (0..rows)
                .map(|i| instant(&c.cells, i).unwrap_or(now_ms))
                .collect()
        })
        .unwrap_or_else(|| vec![now_ms; rows]);
    let mut report = Report::default();
    let mut out: Vec<Column> = Vec::with_capacity(columns.len());
    let mut ages: Option<Vec<Option<f64>>> = None;
    for c in columns {
        if is(DIRECT, &c.name) || is(NOTES, &c.name) {
            report.dropped.push(c.name);
        } else if is(BIRTH, &c.name) {
            ages = Some((0..rows).map(|i| birth_age(&c.cells, i, when[i])).collect());
            report.aged = Some(c.name);
        } else if is(PATIENT_ID, &c.name) {
            let ids = (0..rows)
                .map(|i| text(&c.cells, i).map(|id| anonymizer.pseudonym(&id)))
                .collect();
            report.pseudonymised.push(c.name.clone());
            out.push(Column {
                name: c.name,
                cells: Cells::Text(ids),
            });
        } else if let Cells::Text(v) = c.cells {
            report.redacted.push(c.name.clone());
            let v = v.into_iter().map(|t| t.map(|t| redact_text(&t))).collect();
            out.push(Column {
                name: c.name,
                cells: Cells::Text(v),
            });
        } else {
            out.push(c);
        }
    }
    if let Some(ages) = ages {
        match out.iter_mut().find(|c| c.name == "age_years") {
            // A computed age wins over a stated one; a stated one fills rows without a birth date.
            Some(Column {
                cells: Cells::Number(existing),
                ..
            }) => {
                for (e, a) in existing.iter_mut().zip(ages) {
                    *e = a.or(*e);
                }
            }
            _ => {
                out.retain(|c| c.name != "age_years");
                out.push(Column {
                    name: "age_years".into(),
                    cells: Cells::Number(ages),
                });
            }
        }
    }
    (out, report)
}

fn text(cells: &Cells, i: usize) -> Option<String> {
    match cells {
        Cells::Text(v) => v[i].clone(),
        // Numeric ids read from CSV: written back without a decimal point.
        Cells::Number(v) => v[i].map(|x| {
            if x.fract() == 0.0 && x.abs() < 1e15 {
                format!("{}", x as i64)
            } else {
                x.to_string()
            }
        }),
    }
}

fn instant(cells: &Cells, i: usize) -> Option<i64> {
    let t = text(cells, i)?;
    parse_rfc3339(&t)
        .ok()
        .or_else(|| crate::core::calendar::parse_instant(&t).ok())
}

fn birth_age(cells: &Cells, i: usize, at_ms: i64) -> Option<f64> {
    let t = text(cells, i)?;
    age_years(t.get(..10)?, at_ms)
}

/// Writes the columns as CSV or Parquet (by `out`'s extension), atomically.
pub fn write_table(
    out: &Path,
    columns: &[Column],
    rows: usize,
    key_id: &str,
) -> anyhow::Result<()> {
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let tmp = out.with_extension("anonymize.tmp");
    let file = std::fs::File::create(&tmp)?;
    let file = match ext.as_deref() {
        Some("csv") => write_csv(file, columns, rows)?,
        Some("parquet") => write_parquet(file, columns, rows, key_id)?,
        _ => anyhow::bail!(
            "{}: unknown data format (expected .csv or .parquet)",
            out.display()
        ),
    };
    file.sync_all()?;
    std::fs::rename(&tmp, out)?;
    Ok(())
}

fn cell_text(c: &Column, i: usize) -> String {
    match &c.cells {
        Cells::Number(v) => v[i].map_or(String::new(), |x| x.to_string()),
        Cells::Text(v) => v[i].clone().unwrap_or_default(),
    }
}

fn write_csv(
    file: std::fs::File,
    columns: &[Column],
    rows: usize,
) -> anyhow::Result<std::fs::File> {
    let mut w = csv::Writer::from_writer(file);
    w.write_record(columns.iter().map(|c| c.name.as_str()))?;
    for i in 0..rows {
        w.write_record(columns.iter().map(|c| cell_text(c, i)))?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{}", e.error()))
}

fn write_parquet(
    file: std::fs::File,
    columns: &[Column],
    rows: usize,
    key_id: &str,
) -> anyhow::Result<std::fs::File> {
    let mut message = String::from("message anonymized {\n");
    for c in columns {
        let ty = match c.cells {
            Cells::Number(_) => "DOUBLE",
            Cells::Text(_) => "BYTE_ARRAY",
        };
        let logical = if ty == "BYTE_ARRAY" { " (STRING)" } else { "" };
        message.push_str(&format!("  OPTIONAL {ty} {}{logical};\n", c.name));
    }
    message.push('}');
    let schema = Arc::new(parquet::schema::parser::parse_message_type(&message)?);
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![KeyValue::new(
            super::sink::META_KEY_ID.into(),
            key_id.to_string(),
        )]))
        .build();
    let mut writer = SerializedFileWriter::new(file, schema, Arc::new(props))?;
    let mut group = writer.next_row_group()?;
    let mut i = 0;
    while let Some(mut col) = group.next_column()? {
        match &columns[i].cells {
            Cells::Number(v) => {
                let defs: Vec<i16> = v.iter().map(|x| i16::from(x.is_some())).collect();
                let vals: Vec<f64> = v.iter().flatten().copied().collect();
                col.typed::<DoubleType>()
                    .write_batch(&vals, Some(&defs), None)?;
            }
            Cells::Text(v) => {
                let defs: Vec<i16> = v.iter().map(|x| i16::from(x.is_some())).collect();
                let vals: Vec<ByteArray> = v
                    .iter()
                    .flatten()
                    .map(|s| ByteArray::from(s.as_str()))
                    .collect();
                col.typed::<ByteArrayType>()
                    .write_batch(&vals, Some(&defs), None)?;
            }
        }
        col.close()?;
        i += 1;
    }
    group.close()?;
    debug_assert!(columns.iter().all(|c| match &c.cells {
        Cells::Number(v) => v.len() == rows,
        Cells::Text(v) => v.len() == rows,
    }));
    Ok(writer.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Secret;

    #[test]
    fn identifiers_go_ids_are_pseudonymised_birth_dates_become_ages_and_text_is_redacted() {
        let a = Anonymizer::new(Secret::new("backfill-key-0123456789".into()));
        let cols = vec![
            Column {
                name: "patient_id".into(),
                cells: Cells::Number(vec![Some(123.0)]),
            },
            Column {
                name: "Nome".into(),
                cells: Cells::Text(vec![Some("Maria".into())]),
            },
            Column {
                name: "date_of_birth".into(),
                cells: Cells::Text(vec![Some("1990-06-15".into())]),
            },
            Column {
                name: "occurred_at".into(),
                cells: Cells::Text(vec![Some("2026-06-14T10:00:00Z".into())]),
            },
            Column {
                name: "comment".into(),
                cells: Cells::Text(vec![Some("ligue (11) 98765-4321".into())]),
            },
            Column {
                name: "note".into(),
                cells: Cells::Text(vec![Some("x".into())]),
            },
        ];
        let (out, report) = anonymize_columns(cols, 1, &a, 0);
        let names: Vec<&str> = out.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["patient_id", "occurred_at", "comment", "age_years"]);
        assert_eq!(out[0].cells, Cells::Text(vec![Some(a.pseudonym("123"))]));
        assert_eq!(
            out[2].cells,
            Cells::Text(vec![Some("ligue [PHONE]".into())])
        );
        assert_eq!(out[3].cells, Cells::Number(vec![Some(35.0)]));
        assert_eq!(report.dropped, ["Nome", "note"]);
    }
}

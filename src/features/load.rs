//! The bulk file `powerbirth features load FILE` reads: JSON Lines (`.jsonl`, `.ndjson`) or CSV
//! (`.csv`), one write per line with `patient_id`, `group` (`risk` | `engagement`) and `values`
//! (the group's values as a JSON object; in CSV a quoted JSON cell). Every line is checked before
//! anything is written, and every problem names the file and line. Loading the same file twice
//! changes nothing (the store keeps identical and newer rows).

use std::path::Path;

use serde::Deserialize;

use super::FeatureGroup;
use super::validate::patient_id;
use super::values::{FeatureValues, FeatureWrite};

/// One bad line: `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct LineError {
    pub file: String,
    pub line: u64,
    pub message: String,
}

/// At most this many problems are reported at once.
const MAX_PROBLEMS: usize = 20;

/// A JSON Lines record.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    patient_id: String,
    group: String,
    values: serde_json::Value,
}

/// Reads and checks every line of `path`. `Err` holds every problem found (up to 20), each
/// naming the file and line; then nothing should be written.
pub fn read(path: &Path) -> Result<Vec<FeatureWrite>, Vec<LineError>> {
    let file = path.display().to_string();
    let fail = |line: u64, message: String| {
        vec![LineError {
            file: file.clone(),
            line,
            message,
        }]
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(0, format!("cannot read: {e}")))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let lines: Vec<(u64, Result<(String, String, String), String>)> = match ext {
        "jsonl" | "ndjson" => jsonl_lines(&text),
        "csv" => csv_lines(&text),
        other => {
            return Err(fail(
                0,
                format!("unknown file type {other:?}: use .jsonl, .ndjson or .csv"),
            ));
        }
    };
    let mut writes = Vec::with_capacity(lines.len());
    let mut problems = Vec::new();
    for (line, fields) in lines {
        match fields.and_then(|(id, group, values)| to_write(id, &group, &values)) {
            Ok(w) => writes.push(w),
            Err(message) if problems.len() < MAX_PROBLEMS => problems.push(LineError {
                file: file.clone(),
                line,
                message,
            }),
            Err(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(writes)
    } else {
        Err(problems)
    }
}

fn to_write(patient: String, group: &str, values: &str) -> Result<FeatureWrite, String> {
    patient_id(&patient).map_err(|e| e.to_string())?;
    let group = FeatureGroup::parse(group)
        .ok_or_else(|| format!("group: unknown group {group:?} (expected risk or engagement)"))?;
    let values = FeatureValues::parse(group, values.as_bytes())
        .map_err(|e| format!("values.{}: {}", e.field, e.message))?;
    Ok(FeatureWrite {
        patient_id: patient,
        values,
    })
}

type Line = (u64, Result<(String, String, String), String>);

fn jsonl_lines(text: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let parsed = serde_json::from_str::<Record>(l)
                .map(|r| (r.patient_id, r.group, r.values.to_string()))
                .map_err(|e| format!("not a feature record: {e}"));
            (i as u64 + 1, parsed)
        })
        .collect()
}

fn csv_lines(text: &str) -> Vec<Line> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return vec![(1, Err(format!("unreadable header: {e}")))],
    };
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(id), Some(group), Some(values)) = (col("patient_id"), col("group"), col("values"))
    else {
        return vec![(
            1,
            Err("the header must name patient_id, group and values".into()),
        )];
    };
    reader
        .records()
        .map(|record| match record {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line());
                let get = |i: usize| r.get(i).unwrap_or("").to_string();
                (line, Ok((get(id), get(group), get(values))))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                (line, Err(format!("unreadable CSV record: {e}")))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn jsonl_and_csv_files_read_the_same_writes() {
        let (_d, jsonl) = write(
            "f.jsonl",
            "{\"patient_id\":\"p1\",\"group\":\"risk\",\"values\":{\"systolic_bp_mmhg\":120}}\n",
        );
        let (_e, csv) = write(
            "f.csv",
            "patient_id,group,values\np1,risk,\"{\"\"systolic_bp_mmhg\"\":120}\"\n",
        );
        assert_eq!(read(&jsonl).unwrap(), read(&csv).unwrap());
    }

    #[test]
    fn a_bad_line_is_named_with_its_file_and_field() {
        let (_d, path) = write(
            "f.jsonl",
            "{\"patient_id\":\"p1\",\"group\":\"risk\",\"values\":{}}\n\n{\"patient_id\":\"p2\",\"group\":\"risk\",\"values\":{\"systolic_bp_mmhg\":600}}\n",
        );
        let problems = read(&path).unwrap_err();
        assert_eq!(problems.len(), 1);
        let shown = problems[0].to_string();
        assert!(
            shown.starts_with(&format!("{}:3: values.systolic_bp_mmhg", path.display())),
            "{shown}"
        );
    }
}

//! `GET /v1/reviews/export?format=jsonl|csv` (admin key): every nurse review, one row each, for
//! analysis and for building eval sets. A row names the item, batch, conversation, prompt
//! reference and model, the scores, safety and escalation judgements, the comment and corrected
//! answer, the reviewer's id (never the e-mail) and when it was given. No conversation text is
//! exported: it stays in the database, redacted, behind the review pages.
//!
//! The body is streamed in pages of [`PAGE`] rows read by keyset (`created_at`, `id`), so a large
//! export never sits in memory whole. CSV is RFC 4180, quoted by the `csv` crate, and a text cell
//! that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` (OWASP's
//! rule against CSV injection), so a spreadsheet never reads a nurse's comment as a formula.
//! JSON Lines keeps the text exactly as written.

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::AuthedKey;
use crate::error::ApiError;
use crate::store::Store;
use crate::store::reviews::DbError;
pub use crate::store::reviews::ExportRow;

/// Rows read and sent per database round trip.
pub const PAGE: i64 = 500;

/// The export's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (`application/x-ndjson`).
    Jsonl,
    /// RFC 4180 with a header row.
    Csv,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jsonl" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            other => Err(format!(
                "Invalid value for 'format': {other:?}. Use \"jsonl\" or \"csv\"."
            )),
        }
    }
}

/// The query string; `format` defaults to `jsonl`.
#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
}

/// The handler: admin key only (a client key gets 403, no key 401 from the auth layer). It
/// needs only the store, so it takes no more of the app's state.
pub async fn handler(
    State(store): State<Store>,
    Extension(key): Extension<AuthedKey>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    key.require_admin()?;
    let format: Format = q
        .format
        .as_deref()
        .unwrap_or("jsonl")
        .parse()
        .map_err(|e: String| ApiError::invalid("format", e))?;
    // The first page is read before answering, so a database failure is a clean 500.
    let first = page(&store, None).await?;
    let cursor = Cursor {
        store,
        format,
        rows: Some(first),
        header: true,
    };
    let body = Body::from_stream(futures_util::stream::unfold(cursor, Cursor::next_chunk));
    let (content_type, file) = match format {
        Format::Jsonl => ("application/x-ndjson", "reviews.jsonl"),
        Format::Csv => ("text/csv; charset=utf-8", "reviews.csv"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Where the stream is: the page to send next (`None` when the last one was short).
struct Cursor {
    store: Store,
    format: Format,
    rows: Option<Vec<ExportRow>>,
    /// The CSV header is still to be written.
    header: bool,
}

type Chunk = Result<Bytes, std::io::Error>;

impl Cursor {
    /// Encodes the pending page and reads the one after it.
    async fn next_chunk(mut self) -> Option<(Chunk, Cursor)> {
        let rows = self.rows.take()?;
        let chunk = match encode(self.format, &rows, self.header) {
            Ok(bytes) => bytes,
            Err(e) => return Some((Err(e), self)),
        };
        self.header = false;
        if rows.len() as i64 == PAGE
            && let Some(last) = rows.last()
        {
            match page(&self.store, Some((last.created_at, &last.review_id))).await {
                Ok(next) if !next.is_empty() => self.rows = Some(next),
                Ok(_) => {}
                Err(e) => {
                    // The status is sent already: cut the body so the client sees a failure.
                    tracing::error!(error = %e, "review export failed mid-stream");
                    return Some((Err(std::io::Error::other("review export failed")), self));
                }
            }
        }
        Some((Ok(chunk), self))
    }
}

fn encode(format: Format, rows: &[ExportRow], header: bool) -> Result<Bytes, std::io::Error> {
    match format {
        Format::Jsonl => {
            let mut out = Vec::with_capacity(rows.len() * 256);
            for r in rows {
                serde_json::to_writer(&mut out, r)?;
                out.push(b'\n');
            }
            Ok(out.into())
        }
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .has_headers(header)
                .from_writer(Vec::with_capacity(rows.len() * 256));
            if rows.is_empty() && header {
                // No row to take the header from: write it from the field names.
                w.write_record(HEADER)?;
            }
            for r in rows {
                w.serialize(csv_safe(r))?;
            }
            w.into_inner()
                .map(Bytes::from)
                .map_err(|e| std::io::Error::other(e.to_string()))
        }
    }
}

/// `text` as a spreadsheet cannot take it for a formula: OWASP's CSV-injection rule prefixes a
/// cell starting with `=`, `+`, `-`, `@`, tab or carriage return with `'`.
fn neutralise(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// The row with every free-text cell neutralised for CSV.
fn csv_safe(r: &ExportRow) -> ExportRow {
    let opt = |v: &Option<String>| v.as_deref().map(neutralise);
    ExportRow {
        prompt_ref: opt(&r.prompt_ref),
        model: opt(&r.model),
        safety_problem: neutralise(&r.safety_problem),
        comment: opt(&r.comment),
        corrected_answer: opt(&r.corrected_answer),
        ..r.clone()
    }
}

/// The CSV header, in [`ExportRow`]'s field order.
const HEADER: [&str; 15] = [
    "review_id",
    "item_id",
    "batch_id",
    "conversation_id",
    "prompt_ref",
    "model",
    "urgent",
    "clinical_accuracy",
    "tone",
    "safety_problem",
    "should_escalate",
    "comment",
    "corrected_answer",
    "reviewer_id",
    "created_at",
];

/// Up to [`PAGE`] reviews after `after` (`created_at`, `id`), oldest first.
async fn page(store: &Store, after: Option<(i64, &str)>) -> Result<Vec<ExportRow>, DbError> {
    store.reviews().export_page(after, PAGE).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(comment: &str) -> ExportRow {
        ExportRow {
            review_id: "r1".into(),
            item_id: "i1".into(),
            batch_id: "b1".into(),
            conversation_id: "c1".into(),
            prompt_ref: None,
            model: Some("gpt-echo".into()),
            urgent: true,
            clinical_accuracy: 4,
            tone: 5,
            safety_problem: "none".into(),
            should_escalate: false,
            comment: Some(comment.into()),
            corrected_answer: None,
            reviewer_id: "u1".into(),
            created_at: 7,
        }
    }

    #[test]
    fn csv_quotes_commas_quotes_and_newlines_and_keeps_the_header_in_field_order() {
        let out = encode(Format::Csv, &[row("ok, \"but\"\nshort")], true).unwrap();
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(
            text.starts_with(&format!("{}\n", HEADER.join(","))),
            "{text}"
        );
        assert!(text.contains("\"ok, \"\"but\"\"\nshort\""), "{text}");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rec = reader.records().next().unwrap().unwrap();
        assert_eq!(&rec[11], "ok, \"but\"\nshort");
        assert_eq!(&rec[4], "");
    }

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_as_formulas_are_prefixed() {
        let mut r = row("=HYPERLINK(\"http://x\")");
        r.corrected_answer = Some("@SUM(1)".into());
        let out = encode(Format::Csv, &[r.clone(), row("-2+3"), row("ok =1")], true).unwrap();
        let text = String::from_utf8(out.to_vec()).unwrap();
        let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(Result::unwrap)
            .collect();
        assert_eq!(&rows[0][11], "'=HYPERLINK(\"http://x\")");
        assert_eq!(&rows[0][12], "'@SUM(1)");
        assert_eq!(&rows[1][11], "'-2+3");
        assert_eq!(&rows[2][11], "ok =1", "only a leading sign is dangerous");
        let json = encode(Format::Jsonl, &[r], true).unwrap();
        assert!(
            String::from_utf8(json.to_vec())
                .unwrap()
                .contains("\"=HYPERLINK")
        );
    }

    #[test]
    fn an_empty_csv_export_still_has_its_header() {
        let out = encode(Format::Csv, &[], true).unwrap();
        assert_eq!(out, Bytes::from(format!("{}\n", HEADER.join(","))));
        assert!(encode(Format::Csv, &[], false).unwrap().is_empty());
    }

    #[test]
    fn jsonl_is_one_object_per_line() {
        let out = encode(Format::Jsonl, &[row("a"), row("b")], true).unwrap();
        let text = String::from_utf8(out.to_vec()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v["comment"], "b");
        assert_eq!(v["urgent"], true);
        assert_eq!(v["prompt_ref"], serde_json::Value::Null);
    }
}

//! The Parquet layout of each event type: its columns (name, type, required) and how an
//! anonymised [`Row`] fills them. Written with the `parquet` crate's column writers (no Arrow):
//! the same files read in pyarrow, DataFusion or Spark as `timestamp[ms, UTC]`, `string`,
//! `double`, `int32` and `bool` columns (docs/ml.md, "Ingestion").

use parquet::data_type::ByteArray;

use super::anonymize::Row;
use super::event::{EventKind, Payload};

/// A column's physical and logical type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Str,
    F64,
    I32,
    Bool,
    /// Unix milliseconds, UTC (`TIMESTAMP(MILLIS, true)`).
    TimestampMs,
}

/// One column of an event type's files.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

const fn req(name: &'static str, kind: Kind) -> Spec {
    Spec {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Spec {
    Spec {
        name,
        kind,
        required: false,
    }
}

/// Every file starts with these: the entry it came from, the pseudonymous patient, when.
const COMMON: [Spec; 4] = [
    req("stream_id", Kind::Str),
    req("patient_id", Kind::Str),
    req("occurred_at", Kind::TimestampMs),
    req("schema_version", Kind::I32),
];

const MEASUREMENT: [Spec; 11] = [
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    opt("age_years", Kind::F64),
    opt("systolic_bp_mmhg", Kind::F64),
    opt("diastolic_bp_mmhg", Kind::F64),
    opt("blood_glucose_mmol_l", Kind::F64),
    opt("body_temperature_c", Kind::F64),
    opt("heart_rate_bpm", Kind::F64),
    opt("gestational_week", Kind::F64),
];

const CONTENT_VIEW: [Spec; 7] = [
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    req("content_id", Kind::Str),
    req("seconds", Kind::F64),
    req("completed", Kind::Bool),
];

const CHAT_FEEDBACK: [Spec; 7] = [
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    req("conversation_id", Kind::Str),
    req("rating", Kind::I32),
    opt("comment", Kind::Str),
];

/// The columns of `kind`'s files.
pub fn specs(kind: EventKind) -> &'static [Spec] {
    match kind {
        EventKind::Measurement => &MEASUREMENT,
        EventKind::ContentView => &CONTENT_VIEW,
        EventKind::ChatFeedback => &CHAT_FEEDBACK,
    }
}

/// The Parquet message type of `kind`'s files.
pub fn message_type(kind: EventKind) -> String {
    let mut out = format!("message {} {{\n", kind.as_str());
    for s in specs(kind) {
        let rep = if s.required { "REQUIRED" } else { "OPTIONAL" };
        let ty = match s.kind {
            Kind::Str => "BYTE_ARRAY",
            Kind::F64 => "DOUBLE",
            Kind::I32 => "INT32",
            Kind::Bool => "BOOLEAN",
            Kind::TimestampMs => "INT64",
        };
        let logical = match s.kind {
            Kind::Str => " (STRING)",
            Kind::TimestampMs => " (TIMESTAMP(MILLIS,true))",
            _ => "",
        };
        out.push_str(&format!("  {rep} {ty} {}{logical};\n", s.name));
    }
    out.push('}');
    out
}

/// One column's values being gathered; `def` holds the definition levels of an optional column
/// (1 present, 0 null), and values only for present cells, as Parquet writes them.
#[derive(Debug)]
pub enum Buffer {
    Str(Vec<ByteArray>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

/// The columns of one file, filled row by row.
#[derive(Debug)]
pub struct Columns {
    pub buffers: Vec<Buffer>,
    pub defs: Vec<Vec<i16>>,
    pub rows: usize,
}

/// A cell as a row gives it.
enum Cell<'a> {
    Str(Option<&'a str>),
    F64(Option<f64>),
    I32(i32),
    I64(i64),
    Bool(bool),
}

impl Columns {
    pub fn new(kind: EventKind, capacity: usize) -> Columns {
        let buffers = specs(kind)
            .iter()
            .map(|s| match s.kind {
                Kind::Str => Buffer::Str(Vec::with_capacity(capacity)),
                Kind::F64 => Buffer::F64(Vec::with_capacity(capacity)),
                Kind::I32 => Buffer::I32(Vec::with_capacity(capacity)),
                Kind::Bool => Buffer::Bool(Vec::with_capacity(capacity)),
                Kind::TimestampMs => Buffer::I64(Vec::with_capacity(capacity)),
            })
            .collect();
        let defs = specs(kind).iter().map(|_| Vec::new()).collect();
        Columns {
            buffers,
            defs,
            rows: 0,
        }
    }

    /// Appends one row (its payload must be of the columns' kind).
    pub fn push(&mut self, row: &Row) {
        let mut i = 0;
        let mut put = |cell: Cell<'_>| {
            self.put(i, cell);
            i += 1;
        };
        put(Cell::Str(Some(&row.stream_id)));
        put(Cell::Str(Some(&row.patient_id)));
        put(Cell::I64(row.occurred_at_ms));
        put(Cell::I32(super::event::SCHEMA_VERSION as i32));
        match &row.payload {
            Payload::Measurement(m) => {
                for v in [
                    m.age_years,
                    m.systolic_bp_mmhg,
                    m.diastolic_bp_mmhg,
                    m.blood_glucose_mmol_l,
                    m.body_temperature_c,
                    m.heart_rate_bpm,
                    m.gestational_week,
                ] {
                    put(Cell::F64(v));
                }
            }
            Payload::ContentView(v) => {
                put(Cell::Str(Some(&v.content_id)));
                put(Cell::F64(Some(v.seconds)));
                put(Cell::Bool(v.completed));
            }
            Payload::ChatFeedback(f) => {
                put(Cell::Str(Some(&f.conversation_id)));
                put(Cell::I32(f.rating));
                put(Cell::Str(f.comment.as_deref()));
            }
        }
        self.rows += 1;
    }

    fn put(&mut self, i: usize, cell: Cell<'_>) {
        let present = match (&mut self.buffers[i], cell) {
            (Buffer::Str(b), Cell::Str(v)) => v.map(|s| b.push(ByteArray::from(s))).is_some(),
            (Buffer::F64(b), Cell::F64(v)) => v.map(|x| b.push(x)).is_some(),
            (Buffer::I32(b), Cell::I32(v)) => {
                b.push(v);
                true
            }
            (Buffer::I64(b), Cell::I64(v)) => {
                b.push(v);
                true
            }
            (Buffer::Bool(b), Cell::Bool(v)) => {
                b.push(v);
                true
            }
            _ => unreachable!("a row's cells follow its kind's specs"),
        };
        self.defs[i].push(i16::from(present));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_parses_as_a_parquet_schema() {
        for kind in EventKind::ALL {
            let t = parquet::schema::parser::parse_message_type(&message_type(kind)).unwrap();
            assert_eq!(t.get_fields().len(), specs(kind).len());
        }
    }
}

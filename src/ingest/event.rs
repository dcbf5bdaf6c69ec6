//! The events apps send, parsed and checked: the envelope `{"event", "schema_version",
//! "patient_id", "occurred_at", "payload"}` and one typed payload per event type. These types are
//! the validation (unknown fields, wrong types and values outside the schema's bounds are refused
//! with a reason naming the field); `data/schemas/<event>.json` says the same in JSON Schema, and
//! `tests/it/ingest/schemas.rs` checks with a real JSON Schema validator that both agree.

use serde::Deserialize;

/// The event types ingestion knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Measurement,
    ContentView,
    ChatFeedback,
}

impl EventKind {
    pub const ALL: [EventKind; 3] = [
        EventKind::Measurement,
        EventKind::ContentView,
        EventKind::ChatFeedback,
    ];

    /// The name in events, schema files and the Parquet directory.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Measurement => "measurement",
            EventKind::ContentView => "content_view",
            EventKind::ChatFeedback => "chat_feedback",
        }
    }

    pub fn parse(name: &str) -> Option<EventKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What happens to a free-text field (`x-powerbirth-free-text` in the schema files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeText {
    /// Never written.
    Drop,
    /// Written after the guard's PII redaction and the name rule.
    Redact,
}

/// Every free-text field and its rule; the schema files must say the same (tested).
pub const FREE_TEXT: &[(EventKind, &str, FreeText)] = &[
    (EventKind::Measurement, "note", FreeText::Drop),
    (EventKind::ChatFeedback, "comment", FreeText::Redact),
];

/// The schema version every event type is at.
pub const SCHEMA_VERSION: u32 = 1;

/// The envelope, before its payload is typed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    event: String,
    schema_version: u32,
    patient_id: String,
    occurred_at: String,
    payload: serde_json::Value,
}

/// A measurement a woman recorded, in the risk endpoint's units.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measurement {
    pub age_years: Option<f64>,
    pub systolic_bp_mmhg: Option<f64>,
    pub diastolic_bp_mmhg: Option<f64>,
    pub blood_glucose_mmol_l: Option<f64>,
    pub body_temperature_c: Option<f64>,
    pub heart_rate_bpm: Option<f64>,
    pub gestational_week: Option<f64>,
    /// `YYYY-MM-DD`; becomes `age_years` at `occurred_at` and is never written.
    pub date_of_birth: Option<String>,
    /// Free text; dropped (see [`FREE_TEXT`]).
    pub note: Option<String>,
}

/// An article opened.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentView {
    pub content_id: String,
    pub seconds: f64,
    pub completed: bool,
}

/// A rating of an assistant conversation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatFeedback {
    pub conversation_id: String,
    pub rating: i32,
    /// Free text; redacted (see [`FREE_TEXT`]).
    pub comment: Option<String>,
}

/// A typed payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Measurement(Measurement),
    ContentView(ContentView),
    ChatFeedback(ChatFeedback),
}

impl Payload {
    pub fn kind(&self) -> EventKind {
        match self {
            Payload::Measurement(_) => EventKind::Measurement,
            Payload::ContentView(_) => EventKind::ContentView,
            Payload::ChatFeedback(_) => EventKind::ChatFeedback,
        }
    }
}

/// A valid event, still with the raw patient id (anonymisation comes next).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub patient_id: String,
    /// Unix milliseconds, UTC.
    pub occurred_at_ms: i64,
    pub payload: Payload,
}

/// Bounds of the measurement fields (inclusive), as in `data/schemas/measurement.json`: values
/// no device or person can produce, not clinical limits (those are the expectation suites').
const MEASUREMENT_BOUNDS: &[(&str, f64, f64)] = &[
    ("age_years", 10.0, 70.0),
    ("systolic_bp_mmhg", 40.0, 300.0),
    ("diastolic_bp_mmhg", 20.0, 200.0),
    ("blood_glucose_mmol_l", 1.0, 40.0),
    ("body_temperature_c", 30.0, 45.0),
    ("heart_rate_bpm", 20.0, 250.0),
    ("gestational_week", 0.0, 45.0),
];

/// Longest identifier (patient, content, conversation) and longest free text, in characters.
const MAX_ID: usize = 200;
const MAX_TEXT: usize = 2000;

/// Parses and checks one event's JSON; the error is the reason given in the dead letter.
pub fn parse(json: &str) -> Result<Event, String> {
    let de = &mut serde_json::Deserializer::from_str(json);
    let raw: RawEnvelope =
        serde_path_to_error::deserialize(de).map_err(|e| match e.path().to_string() {
            // `.` is the whole object; `?` a place in text that is not JSON.
            p if p == "." || p == "?" => format!("envelope: {}", e.inner()),
            p => format!("{p}: {}", e.inner()),
        })?;
    let kind = EventKind::parse(&raw.event).ok_or_else(|| {
        format!(
            "event: unknown event type {:?} (known: measurement, content_view, chat_feedback)",
            raw.event
        )
    })?;
    if raw.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "schema_version: {} is not supported (current: {SCHEMA_VERSION})",
            raw.schema_version
        ));
    }
    check_id("patient_id", &raw.patient_id)?;
    let occurred_at_ms =
        parse_rfc3339(&raw.occurred_at).map_err(|e| format!("occurred_at: {e}"))?;
    let payload = typed_payload(kind, raw.payload)?;
    Ok(Event {
        patient_id: raw.patient_id,
        occurred_at_ms,
        payload,
    })
}

fn typed_payload(kind: EventKind, value: serde_json::Value) -> Result<Payload, String> {
    fn de<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
        serde_path_to_error::deserialize(v).map_err(|e| match e.path().to_string() {
            p if p == "." => format!("payload: {}", e.inner()),
            p => format!("payload.{p}: {}", e.inner()),
        })
    }
    match kind {
        EventKind::Measurement => {
            let m: Measurement = de(value)?;
            check_measurement(&m)?;
            Ok(Payload::Measurement(m))
        }
        EventKind::ContentView => {
            let v: ContentView = de(value)?;
            check_id("payload.content_id", &v.content_id)?;
            if !(0.0..=86_400.0).contains(&v.seconds) {
                return Err(format!("payload.seconds: {} is outside 0–86400", v.seconds));
            }
            Ok(Payload::ContentView(v))
        }
        EventKind::ChatFeedback => {
            let f: ChatFeedback = de(value)?;
            check_id("payload.conversation_id", &f.conversation_id)?;
            if !(1..=5).contains(&f.rating) {
                return Err(format!("payload.rating: {} is outside 1–5", f.rating));
            }
            check_text("payload.comment", f.comment.as_deref())?;
            Ok(Payload::ChatFeedback(f))
        }
    }
}

fn check_measurement(m: &Measurement) -> Result<(), String> {
    let values = [
        m.age_years,
        m.systolic_bp_mmhg,
        m.diastolic_bp_mmhg,
        m.blood_glucose_mmol_l,
        m.body_temperature_c,
        m.heart_rate_bpm,
        m.gestational_week,
    ];
    for ((name, lo, hi), v) in MEASUREMENT_BOUNDS.iter().zip(values) {
        if let Some(v) = v
            && !(*lo..=*hi).contains(&v)
        {
            return Err(format!("payload.{name}: {v} is outside {lo}–{hi}"));
        }
    }
    if let Some(dob) = &m.date_of_birth {
        let valid = dob.len() == 10 && crate::core::calendar::parse_instant(dob).is_ok();
        if !valid {
            return Err("payload.date_of_birth: not a date (YYYY-MM-DD)".into());
        }
    }
    check_text("payload.note", m.note.as_deref())
}

fn check_id(field: &str, id: &str) -> Result<(), String> {
    let n = id.chars().count();
    if n == 0 || n > MAX_ID {
        return Err(format!("{field}: must have 1–{MAX_ID} characters"));
    }
    Ok(())
}

fn check_text(field: &str, text: Option<&str>) -> Result<(), String> {
    match text {
        Some(t) if t.chars().count() > MAX_TEXT => {
            Err(format!("{field}: longer than {MAX_TEXT} characters"))
        }
        _ => Ok(()),
    }
}

/// RFC 3339 date-time (`2026-12-07T09:30:00-03:00`, `…Z`, fractions allowed) to Unix
/// milliseconds, UTC.
pub fn parse_rfc3339(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not an RFC 3339 date-time (2026-12-07T09:30:00-03:00)");
    if text.len() < 20 || !matches!(text.as_bytes()[10], b'T' | b't') {
        return Err(bad());
    }
    let (local, offset_min) = if let Some(l) = text.strip_suffix(['Z', 'z']) {
        (l, 0i64)
    } else {
        let (l, off) = text.split_at(text.len() - 6);
        let b = off.as_bytes();
        let sign = match b[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(bad()),
        };
        let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
        if b[3] != b':'
            || !off[1..3]
                .bytes()
                .chain(off[4..].bytes())
                .all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let (h, m) = (num(&off[1..3])?, num(&off[4..])?);
        if h > 23 || m > 59 {
            return Err(bad());
        }
        (l, sign * (h * 60 + m))
    };
    if local.len() < 19 || local.as_bytes()[13] != b':' || local.as_bytes()[16] != b':' {
        return Err(bad());
    }
    let ms = crate::core::calendar::parse_instant(&format!("{local}Z")).map_err(|_| bad())?;
    Ok(ms - offset_min * 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(payload: &str) -> String {
        format!(
            r#"{{"event":"measurement","schema_version":1,"patient_id":"p1","occurred_at":"2026-12-07T09:30:00-03:00","payload":{payload}}}"#
        )
    }

    #[test]
    fn a_measurement_parses_with_its_offset_applied() {
        let e = parse(&event(r#"{"systolic_bp_mmhg":120,"note":"tudo bem"}"#)).unwrap();
        assert_eq!(
            e.occurred_at_ms,
            crate::core::calendar::parse_instant("2026-12-07T12:30:00Z").unwrap()
        );
        let Payload::Measurement(m) = e.payload else {
            panic!("a measurement")
        };
        assert_eq!(m.systolic_bp_mmhg, Some(120.0));
    }

    #[test]
    fn an_unknown_field_is_refused_by_name() {
        let err = parse(&event(r#"{"name":"Maria"}"#)).unwrap_err();
        assert!(err.starts_with("payload"), "{err}");
        assert!(err.contains("unknown field `name`"), "{err}");
    }

    #[test]
    fn a_value_outside_its_bounds_is_refused_by_name() {
        let err = parse(&event(r#"{"systolic_bp_mmhg":1200}"#)).unwrap_err();
        assert_eq!(err, "payload.systolic_bp_mmhg: 1200 is outside 40–300");
        let err = parse(&event(r#"{"heart_rate_bpm":"fast"}"#)).unwrap_err();
        assert!(err.starts_with("payload.heart_rate_bpm:"), "{err}");
    }

    #[test]
    fn envelope_problems_name_their_field() {
        assert!(parse("not json").unwrap_err().starts_with("envelope"));
        let e = r#"{"event":"x","schema_version":1,"patient_id":"p","occurred_at":"2026-12-07T09:30:00Z","payload":{}}"#;
        assert!(
            parse(e)
                .unwrap_err()
                .starts_with("event: unknown event type")
        );
        let e = r#"{"event":"measurement","schema_version":1,"patient_id":"p","occurred_at":"yesterday","payload":{}}"#;
        assert!(parse(e).unwrap_err().starts_with("occurred_at:"));
    }

    #[test]
    fn rfc3339_offsets_and_fractions_are_understood() {
        let z = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(parse_rfc3339("2026-01-01T02:00:00+02:00").unwrap(), z);
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00.250Z").unwrap(), z + 250);
        assert!(parse_rfc3339("2026-01-01").is_err());
        assert!(parse_rfc3339("2026-01-01T00:00:00+0200").is_err());
    }
}

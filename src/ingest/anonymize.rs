//! What reaches Parquet: an event with its patient id replaced by a keyed pseudonym, a date of
//! birth turned into whole years of age, free text dropped or redacted (see
//! [`super::event::FREE_TEXT`]). Redaction is the guard's own PII code (`guard::pii`, the same
//! detectors chat uses: CPF, CNS, phone, e-mail) plus a name rule the guard does not have: the
//! words after "meu nome é", "me chamo", "my name is" and the like become `[NOME]`.

use crate::core::Secret;
use crate::core::calendar::{DAY_MS, date_of_day, day_of, parse_instant};
use crate::core::pseudonym::{key_fingerprint, keyed_pseudonym};
use crate::guard::pii::{self, PiiKind};

use super::event::{Event, Payload};

/// The same rules for ingestion and `data anonymize`.
#[derive(Clone)]
pub struct Anonymizer {
    key: Secret,
    key_id: String,
}

impl std::fmt::Debug for Anonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Anonymizer(key {})", self.key_id)
    }
}

/// An anonymised event, ready for its Parquet row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The Redis Stream entry id it came from (`<ms>-<seq>`).
    pub stream_id: String,
    /// The keyed pseudonym of the patient id.
    pub patient_id: String,
    pub occurred_at_ms: i64,
    pub payload: Payload,
}

impl Row {
    /// `YYYY-MM-DD` (UTC) of `occurred_at`: the partition.
    pub fn date(&self) -> String {
        date_of_day(day_of(self.occurred_at_ms))
    }
}

impl Anonymizer {
    pub fn new(key: Secret) -> Anonymizer {
        let key_id = key_fingerprint(&key);
        Anonymizer { key, key_id }
    }

    /// The key's public fingerprint, written into every file's metadata.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The pseudonym of a patient id: `keyed_pseudonym(key, ["patient", id])`.
    pub fn pseudonym(&self, patient_id: &str) -> String {
        keyed_pseudonym(&self.key, &["patient", patient_id.trim()])
    }

    /// Applies every rule to a valid event.
    pub fn row(&self, stream_id: String, event: Event) -> Row {
        let payload = match event.payload {
            Payload::Measurement(mut m) => {
                if let Some(dob) = m.date_of_birth.take() {
                    m.age_years = age_years(&dob, event.occurred_at_ms).or(m.age_years);
                }
                m.note = None;
                Payload::Measurement(m)
            }
            Payload::ChatFeedback(mut f) => {
                f.comment = f.comment.map(|c| redact_text(&c));
                Payload::ChatFeedback(f)
            }
            other @ Payload::ContentView(_) => other,
        };
        Row {
            stream_id,
            patient_id: self.pseudonym(&event.patient_id),
            occurred_at_ms: event.occurred_at_ms,
            payload,
        }
    }
}

/// Whole years between a `YYYY-MM-DD` birth date and an instant (UTC).
pub fn age_years(date_of_birth: &str, at_ms: i64) -> Option<f64> {
    let born = parse_instant(date_of_birth).ok()?;
    if born > at_ms {
        return None;
    }
    let at = date_of_day(at_ms.div_euclid(DAY_MS));
    let (by, bmd) = date_of_birth.split_at(4);
    let (ay, amd) = at.split_at(4);
    let years = ay.parse::<i64>().ok()? - by.parse::<i64>().ok()?;
    // One year less when the birthday (month-day) has not come yet this year.
    Some((years - i64::from(amd < bmd)) as f64)
}

/// Language-neutral placeholders: the data is read by analysts, not shown to the woman.
fn placeholder(kind: PiiKind) -> &'static str {
    match kind {
        PiiKind::Cpf => "[CPF]",
        PiiKind::Cns => "[CNS]",
        PiiKind::Phone => "[PHONE]",
        PiiKind::Email => "[EMAIL]",
        PiiKind::Address => "[ADDRESS]",
    }
}

/// Free text with PII (the guard's detectors) and introduced names replaced.
pub fn redact_text(text: &str) -> String {
    let spans = pii::find(text);
    let text = if spans.is_empty() {
        text.to_string()
    } else {
        pii::redact(text, &spans, placeholder)
    };
    redact_names(&text)
}

/// Phrases after which a person's own name follows (lower case, compared on lower-cased text).
const NAME_INTRODUCERS: &[&str] = &[
    "meu nome é ",
    "meu nome e ",
    "me chamo ",
    "aqui é a ",
    "aqui é o ",
    "aqui é ",
    "sou a ",
    "sou o ",
    "my name is ",
    "i am ",
    "i'm ",
    "this is ",
];

/// Up to four capitalised words after a name introducer become `[NOME]`.
fn redact_names(text: &str) -> String {
    let lower = text.to_lowercase();
    // Lower-casing can change byte lengths (rarely); then only the guard's rules apply.
    if lower.len() != text.len() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut search = 0;
    while let Some((pos, intro)) = NAME_INTRODUCERS
        .iter()
        .filter_map(|p| lower[search..].find(p).map(|i| (search + i, *p)))
        .min_by_key(|(i, _)| *i)
    {
        let start = pos + intro.len();
        let end = capitalised_words_end(text, start);
        if end > start {
            out.push_str(&text[at..start]);
            out.push_str("[NOME]");
            at = end;
        }
        search = end.max(start);
    }
    out.push_str(&text[at..]);
    out
}

/// Where up to four words starting with a capital letter, from `start`, end.
fn capitalised_words_end(text: &str, start: usize) -> usize {
    let mut end = start;
    let mut words = 0;
    let mut rest = &text[start..];
    while words < 4 {
        let Some(first) = rest.chars().next() else {
            break;
        };
        if !first.is_uppercase() {
            break;
        }
        let len = rest
            .find(|c: char| !(c.is_alphabetic() || c == '\'' || c == '-'))
            .unwrap_or(rest.len());
        end += len;
        words += 1;
        rest = &rest[len..];
        // Continue over one space (or a lower-case particle such as "da", "de", "dos").
        let next = rest.trim_start_matches(' ');
        let particle = ["da ", "de ", "do ", "das ", "dos ", "e "]
            .iter()
            .find(|p| next.starts_with(**p));
        let skip = rest.len() - next.len() + particle.map_or(0, |p| p.len());
        if skip == 0 || !rest[skip..].starts_with(char::is_uppercase) {
            break;
        }
        end += skip;
        rest = &rest[skip..];
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::event::parse;

    fn anonymizer() -> Anonymizer {
        Anonymizer::new(Secret::new("test-key-0123456789".into()))
    }

    #[test]
    fn the_patient_id_becomes_a_keyed_pseudonym() {
        let a = anonymizer();
        let p = a.pseudonym("529.982.247-25");
        assert_eq!(p.len(), 32);
        assert!(!p.contains("529"));
        assert_ne!(
            p,
            Anonymizer::new(Secret::new("another-key-0123".into())).pseudonym("529.982.247-25")
        );
    }

    #[test]
    fn a_date_of_birth_becomes_whole_years_and_the_note_is_dropped() {
        let e = parse(r#"{"event":"measurement","schema_version":1,"patient_id":"p","occurred_at":"2026-06-14T10:00:00Z","payload":{"date_of_birth":"1996-06-15","note":"Maria, CPF 529.982.247-25"}}"#).unwrap();
        let row = anonymizer().row("1-0".into(), e);
        let Payload::Measurement(m) = row.payload else {
            panic!()
        };
        assert_eq!(m.age_years, Some(29.0), "the birthday is tomorrow");
        assert_eq!(m.date_of_birth, None);
        assert_eq!(m.note, None);
        assert_eq!(
            age_years("1996-06-14", parse_instant("2026-06-14").unwrap()),
            Some(30.0)
        );
    }

    #[test]
    fn free_text_loses_documents_contacts_and_introduced_names() {
        let text = "Meu nome é Maria da Silva, CPF 529.982.247-25, tel (11) 98765-4321, \
                    maria@example.com. My name is Ana Souza. Gostei muito.";
        let out = redact_text(text);
        for raw in [
            "Maria",
            "Silva",
            "529",
            "98765",
            "example.com",
            "Ana",
            "Souza",
        ] {
            assert!(!out.contains(raw), "{raw} left in {out}");
        }
        assert!(out.contains("[CPF]") && out.contains("[PHONE]") && out.contains("[EMAIL]"));
        assert_eq!(out.matches("[NOME]").count(), 2, "{out}");
        assert!(out.ends_with("Gostei muito."));
        assert_eq!(
            redact_text("sou a primeira vez aqui"),
            "sou a primeira vez aqui"
        );
    }
}

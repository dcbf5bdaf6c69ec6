//! What the store accepts: pseudonymous patient ids only (never a name, a document, an e-mail or
//! a phone number), and plausible values, each refusal naming its field.

use super::{EngagementFeatures, RiskFeatures, TopicCounts};

/// A refused value: the field (as in the JSON body) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Longest accepted patient id.
pub const MAX_PATIENT_ID: usize = 128;

/// Checks that `id` is shaped like a pseudonym: 1–128 characters of `A–Z a–z 0–9 _ - : .`, and
/// not a CPF, CNS, phone number or e-mail (the guard's PII detectors), nor only digits and
/// separators (a document number whose check digits happen to fail is still a document).
pub fn patient_id(id: &str) -> Result<(), FieldError> {
    let bad = |m: &str| Err(FieldError::new("patient_id", m));
    if id.is_empty() || id.len() > MAX_PATIENT_ID {
        return bad("must be 1-128 characters");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'))
    {
        return bad(
            "may hold only letters, digits, '_', '-', ':' and '.'; send the pseudonym, never a name or a document",
        );
    }
    let digits = id.chars().filter(char::is_ascii_digit).count();
    if digits >= 8
        && id
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-'))
    {
        return bad("looks like a document or phone number; send the pseudonym instead");
    }
    if !crate::guard::pii::find(id).is_empty() {
        return bad(
            "contains personal data (CPF, CNS, phone or e-mail); send the pseudonym instead",
        );
    }
    Ok(())
}

/// Accepted ranges of the risk measurements (inclusive), wide enough for any real patient and
/// narrow enough to catch unit mistakes (°F in the °C field, mg/dL in mmol/L).
pub const RISK_RANGES: [(&str, f64, f64); 7] = [
    ("age_years", 10.0, 60.0),
    ("systolic_bp_mmhg", 60.0, 260.0),
    ("diastolic_bp_mmhg", 30.0, 160.0),
    ("blood_glucose_mmol_l", 1.0, 40.0),
    ("body_temperature_c", 34.0, 43.0),
    ("heart_rate_bpm", 30.0, 220.0),
    ("gestational_week", 0.0, 45.0),
];

/// Accepted values of `EngagementFeatures::language`.
pub const LANGUAGES: [&str; 2] = ["pt-BR", "en"];

/// Most content ids kept per patient.
pub const MAX_READ_IDS: usize = 200;

/// A time (Unix ms) is plausible from 2000 up to a day ahead (clock skew).
fn time(field: &str, at: Option<i64>) -> Result<(), FieldError> {
    let Some(at) = at else { return Ok(()) };
    let latest = crate::core::now_ms() + 24 * 3600 * 1000;
    if !(946_684_800_000..=latest).contains(&at) {
        return Err(FieldError::new(
            field,
            "must be Unix milliseconds between 2000-01-01 and now",
        ));
    }
    Ok(())
}

impl RiskFeatures {
    /// Every measurement within [`RISK_RANGES`], the time plausible.
    pub fn check(&self) -> Result<(), FieldError> {
        let values = [
            self.age_years,
            self.systolic_bp_mmhg,
            self.diastolic_bp_mmhg,
            self.blood_glucose_mmol_l,
            self.body_temperature_c,
            self.heart_rate_bpm,
            self.gestational_week,
        ];
        for ((field, lo, hi), value) in RISK_RANGES.iter().zip(values) {
            if let Some(v) = value
                && !(v.is_finite() && (*lo..=*hi).contains(&v))
            {
                return Err(FieldError::new(
                    *field,
                    format!("{v} is outside the accepted range {lo}-{hi}"),
                ));
            }
        }
        time("measured_at_ms", self.measured_at_ms)
    }
}

fn topics(field: &str, counts: &TopicCounts) -> Result<(), FieldError> {
    if counts.len() > 200 {
        return Err(FieldError::new(field, "at most 200 topics"));
    }
    for topic in counts.keys() {
        if topic.is_empty() || topic.len() > 64 || topic.chars().any(char::is_control) {
            return Err(FieldError::new(
                format!("{field}.{topic}"),
                "a topic is 1-64 printable characters",
            ));
        }
    }
    Ok(())
}

impl EngagementFeatures {
    /// Topics and ids of sane size, a known language, a week within a pregnancy.
    pub fn check(&self) -> Result<(), FieldError> {
        topics("views_7d", &self.views_7d)?;
        topics("completions_7d", &self.completions_7d)?;
        topics("views_30d", &self.views_30d)?;
        topics("completions_30d", &self.completions_30d)?;
        if self.read_content_ids.len() > MAX_READ_IDS {
            return Err(FieldError::new(
                "read_content_ids",
                format!("at most {MAX_READ_IDS} ids (most recent first)"),
            ));
        }
        if let Some(i) = self
            .read_content_ids
            .iter()
            .position(|id| id.is_empty() || id.len() > 128 || id.chars().any(char::is_whitespace))
        {
            return Err(FieldError::new(
                format!("read_content_ids[{i}]"),
                "a content id is 1-128 characters without spaces",
            ));
        }
        time("last_active_ms", self.last_active_ms)?;
        if let Some(lang) = &self.language
            && !LANGUAGES.contains(&lang.as_str())
        {
            return Err(FieldError::new("language", "must be \"pt-BR\" or \"en\""));
        }
        if self.gestational_week.is_some_and(|w| w > 45) {
            return Err(FieldError::new("gestational_week", "must be 0-45"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_accepted() {
        assert!(patient_id("p_3f9a1c").is_ok());
        assert!(patient_id("hmac:v1:9f86d081884c7d659a2feaa0c55ad015").is_ok());
    }

    #[test]
    fn documents_emails_names_and_phones_are_refused() {
        for id in [
            "529.982.247-25",
            "52998224725",
            "maria@example.com",
            "Maria da Silva",
            "11987654321",
            "12345678",
            "",
        ] {
            assert!(patient_id(id).is_err(), "{id} was accepted");
        }
        assert!(patient_id(&"a".repeat(129)).is_err());
    }

    #[test]
    fn a_measurement_out_of_range_is_refused_naming_its_field() {
        let f = RiskFeatures {
            systolic_bp_mmhg: Some(300.0),
            ..Default::default()
        };
        assert_eq!(f.check().unwrap_err().field, "systolic_bp_mmhg");
        let f = RiskFeatures {
            body_temperature_c: Some(98.6),
            ..Default::default()
        };
        assert_eq!(f.check().unwrap_err().field, "body_temperature_c");
    }

    #[test]
    fn an_unknown_language_is_refused() {
        let f = EngagementFeatures {
            language: Some("fr".into()),
            ..Default::default()
        };
        assert_eq!(f.check().unwrap_err().field, "language");
    }
}

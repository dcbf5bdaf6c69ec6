//! Either group's values, for the paths that carry both (`features load`, ingestion's batches,
//! the HTTP route), and JSON parsing that names the offending field.

use serde::de::DeserializeOwned;

use super::validate::FieldError;
use super::{EngagementFeatures, FeatureGroup, RiskFeatures};

/// One group's values.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValues {
    Risk(RiskFeatures),
    Engagement(EngagementFeatures),
}

impl FeatureValues {
    pub fn group(&self) -> FeatureGroup {
        match self {
            FeatureValues::Risk(_) => FeatureGroup::Risk,
            FeatureValues::Engagement(_) => FeatureGroup::Engagement,
        }
    }

    /// Parses `group`'s values from JSON text; checks shape and plausibility, naming the field.
    pub fn parse(group: FeatureGroup, json: &[u8]) -> Result<FeatureValues, FieldError> {
        let values = match group {
            FeatureGroup::Risk => FeatureValues::Risk(parse_json(json)?),
            FeatureGroup::Engagement => FeatureValues::Engagement(parse_json(json)?),
        };
        values.check()?;
        Ok(values)
    }

    /// Plausibility of the values, naming the field.
    pub fn check(&self) -> Result<(), FieldError> {
        match self {
            FeatureValues::Risk(v) => v.check(),
            FeatureValues::Engagement(v) => v.check(),
        }
    }
}

/// A write of `put_many`: one patient's values of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureWrite {
    pub patient_id: String,
    pub values: FeatureValues,
}

/// Parses JSON into `T`; an error names the field as in the body (`views_7d.nutrition`, an
/// unknown field by its own name, `body` for text that is not JSON at all).
pub fn parse_json<T: DeserializeOwned>(json: &[u8]) -> Result<T, FieldError> {
    let de = &mut serde_json::Deserializer::from_slice(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return FieldError::new("body", format!("not valid JSON: {inner}"));
        }
        let message = inner.to_string();
        // serde names an unknown or missing field in its message, at the parent's path.
        let named = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|p| message.strip_prefix(p))
            .and_then(|rest| rest.split('`').next());
        let field = match (named, path.as_str()) {
            (Some(name), ".") => name.to_string(),
            (Some(name), parent) => format!("{parent}.{name}"),
            (None, ".") => "body".to_string(),
            (None, p) => p.to_string(),
        };
        FieldError::new(field, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_field_is_named() {
        let e = FeatureValues::parse(FeatureGroup::Risk, br#"{"systolic":120}"#).unwrap_err();
        assert_eq!(e.field, "systolic");
    }

    #[test]
    fn a_wrong_type_is_named_by_its_path() {
        let e = FeatureValues::parse(FeatureGroup::Engagement, br#"{"views_7d":{"sleep":"x"}}"#)
            .unwrap_err();
        assert_eq!(e.field, "views_7d.sleep");
        let e =
            FeatureValues::parse(FeatureGroup::Risk, br#"{"heart_rate_bpm":"fast"}"#).unwrap_err();
        assert_eq!(e.field, "heart_rate_bpm");
    }

    #[test]
    fn text_that_is_not_json_names_the_body() {
        assert_eq!(parse_json::<RiskFeatures>(b"{").unwrap_err().field, "body");
    }
}

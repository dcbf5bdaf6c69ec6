//! The risk request as the client writes it, checked once at the edge: known fields only, numbers
//! within physiological ranges, one temperature in °C or °F, and — once the stored features of
//! `patient_id` are merged under the request's own values — every measurement the model reads.
//! Every problem is a [`FieldError`] naming the field (422), never a panic.

use serde_json::{Map, Value};

use crate::features::RiskFeatures;

/// A field the client got wrong (or left out): answered 422 with `param` = the field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub param: String,
    /// `invalid_field` (unknown, wrong type, out of range) or `missing_field`.
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    fn invalid(param: &str, message: String) -> FieldError {
        FieldError {
            param: param.to_string(),
            code: "invalid_field",
            message,
        }
    }
}

/// A measurement the endpoint takes: its field, unit and plausible range (inclusive). Outside
/// the range a value is a typing or unit error, not a patient (systolic 60–260 mmHg, diastolic
/// 30–160, age 10–60, temperature 34–43 °C as the issue sets; glucose, heart rate and week by
/// the same reasoning).
struct Measure {
    field: &'static str,
    unit: &'static str,
    min: f64,
    max: f64,
}

const AGE: Measure = m("age_years", "years", 10.0, 60.0);
const SYSTOLIC: Measure = m("systolic_bp_mmhg", "mmHg", 60.0, 260.0);
const DIASTOLIC: Measure = m("diastolic_bp_mmhg", "mmHg", 30.0, 160.0);
const GLUCOSE: Measure = m("blood_glucose_mmol_l", "mmol/L", 1.0, 40.0);
const TEMP_C: Measure = m("body_temperature_c", "°C", 34.0, 43.0);
const TEMP_F: Measure = m("body_temperature_f", "°F", 93.2, 109.4);
const HEART_RATE: Measure = m("heart_rate_bpm", "beats/min", 30.0, 220.0);
const WEEK: Measure = m("gestational_week", "weeks", 1.0, 45.0);

const fn m(field: &'static str, unit: &'static str, min: f64, max: f64) -> Measure {
    Measure {
        field,
        unit,
        min,
        max,
    }
}

const MEASURES: [&Measure; 8] = [
    &AGE,
    &SYSTOLIC,
    &DIASTOLIC,
    &GLUCOSE,
    &TEMP_C,
    &TEMP_F,
    &HEART_RATE,
    &WEEK,
];

/// The fields every prediction needs, in the order a missing-field message lists them.
pub const REQUIRED: [&str; 6] = [
    "age_years",
    "systolic_bp_mmhg",
    "diastolic_bp_mmhg",
    "blood_glucose_mmol_l",
    "body_temperature_c",
    "heart_rate_bpm",
];

/// A parsed request: the patient (if named) and the values it carries, temperature in °C.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RiskRequest {
    pub patient_id: Option<String>,
    pub values: RiskFeatures,
}

/// Complete, checked measurements (temperature in °C).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurements {
    pub age_years: f64,
    pub systolic_bp_mmhg: f64,
    pub diastolic_bp_mmhg: f64,
    pub blood_glucose_mmol_l: f64,
    pub body_temperature_c: f64,
    pub heart_rate_bpm: f64,
    pub gestational_week: Option<f64>,
}

impl RiskRequest {
    /// Reads a JSON object body. Unknown fields, non-numbers, out-of-range values and both
    /// temperatures at once are refused, each naming its field.
    pub fn parse(body: &Map<String, Value>) -> Result<RiskRequest, FieldError> {
        let mut req = RiskRequest::default();
        let mut temp_f = None;
        for (key, value) in body {
            if key == "patient_id" {
                req.patient_id = Some(patient_id(value)?);
                continue;
            }
            let Some(measure) = MEASURES.iter().find(|m| m.field == key) else {
                return Err(FieldError::invalid(
                    key,
                    format!(
                        "Unknown field '{key}'. Known fields: patient_id, {}.",
                        MEASURES.map(|m| m.field).join(", ")
                    ),
                ));
            };
            let Some(x) = number(measure, value)? else {
                continue;
            };
            let v = &mut req.values;
            match measure.field {
                "age_years" => v.age_years = Some(x),
                "systolic_bp_mmhg" => v.systolic_bp_mmhg = Some(x),
                "diastolic_bp_mmhg" => v.diastolic_bp_mmhg = Some(x),
                "blood_glucose_mmol_l" => v.blood_glucose_mmol_l = Some(x),
                "body_temperature_c" => v.body_temperature_c = Some(x),
                "body_temperature_f" => temp_f = Some(x),
                "heart_rate_bpm" => v.heart_rate_bpm = Some(x),
                _ => v.gestational_week = Some(x),
            }
        }
        if let Some(f) = temp_f {
            if req.values.body_temperature_c.is_some() {
                return Err(FieldError::invalid(
                    TEMP_F.field,
                    "Give the temperature once: body_temperature_c or body_temperature_f, not both."
                        .into(),
                ));
            }
            req.values.body_temperature_c = Some(fahrenheit_to_celsius(f));
        }
        Ok(req)
    }

    /// The request's values over the stored ones (`stored` from the feature store, if any),
    /// checked again (a stored value out of range is refused like a sent one) and complete.
    pub fn merge(&self, stored: Option<&RiskFeatures>) -> Result<Measurements, FieldError> {
        let s = stored.cloned().unwrap_or_default();
        let r = &self.values;
        let pick = |a: Option<f64>, b: Option<f64>| a.or(b);
        let v = RiskFeatures {
            age_years: pick(r.age_years, s.age_years),
            systolic_bp_mmhg: pick(r.systolic_bp_mmhg, s.systolic_bp_mmhg),
            diastolic_bp_mmhg: pick(r.diastolic_bp_mmhg, s.diastolic_bp_mmhg),
            blood_glucose_mmol_l: pick(r.blood_glucose_mmol_l, s.blood_glucose_mmol_l),
            body_temperature_c: pick(r.body_temperature_c, s.body_temperature_c),
            heart_rate_bpm: pick(r.heart_rate_bpm, s.heart_rate_bpm),
            gestational_week: pick(r.gestational_week, s.gestational_week),
            measured_at_ms: None,
        };
        let values = [
            v.age_years,
            v.systolic_bp_mmhg,
            v.diastolic_bp_mmhg,
            v.blood_glucose_mmol_l,
            v.body_temperature_c,
            v.heart_rate_bpm,
        ];
        let missing: Vec<&str> = REQUIRED
            .iter()
            .zip(values)
            .filter(|(_, v)| v.is_none())
            .map(|(f, _)| *f)
            .collect();
        if let Some(first) = missing.first() {
            let whose = match &self.patient_id {
                Some(_) => " (neither in the request nor stored for this patient_id)",
                None => "",
            };
            return Err(FieldError {
                param: (*first).to_string(),
                code: "missing_field",
                message: format!("Missing measurement(s){whose}: {}.", missing.join(", ")),
            });
        }
        for (measure, value) in [&AGE, &SYSTOLIC, &DIASTOLIC, &GLUCOSE, &TEMP_C, &HEART_RATE]
            .into_iter()
            .zip(values)
            .chain(std::iter::once((&WEEK, v.gestational_week)))
        {
            if let Some(x) = value {
                in_range(measure, x)?;
            }
        }
        let [age, sys, dia, bs, temp, hr] = values.map(|x| x.unwrap_or_default());
        if dia >= sys {
            return Err(FieldError::invalid(
                DIASTOLIC.field,
                format!("diastolic_bp_mmhg ({dia}) must be below systolic_bp_mmhg ({sys})."),
            ));
        }
        Ok(Measurements {
            age_years: age,
            systolic_bp_mmhg: sys,
            diastolic_bp_mmhg: dia,
            blood_glucose_mmol_l: bs,
            body_temperature_c: temp,
            heart_rate_bpm: hr,
            gestational_week: v.gestational_week,
        })
    }
}

fn patient_id(value: &Value) -> Result<String, FieldError> {
    match value.as_str().map(str::trim) {
        Some(id) if !id.is_empty() && id.len() <= 128 => Ok(id.to_string()),
        _ => Err(FieldError::invalid(
            "patient_id",
            "patient_id must be a non-empty string of at most 128 characters (the pseudonymous id)."
                .into(),
        )),
    }
}

/// The field's number (`null` counts as absent), checked against its range.
fn number(measure: &Measure, value: &Value) -> Result<Option<f64>, FieldError> {
    if value.is_null() {
        return Ok(None);
    }
    let Some(x) = value.as_f64().filter(|x| x.is_finite()) else {
        return Err(FieldError::invalid(
            measure.field,
            format!(
                "{} must be a number in {} (between {} and {}).",
                measure.field, measure.unit, measure.min, measure.max
            ),
        ));
    };
    in_range(measure, x)?;
    Ok(Some(x))
}

fn in_range(measure: &Measure, x: f64) -> Result<(), FieldError> {
    if (measure.min..=measure.max).contains(&x) {
        return Ok(());
    }
    Err(FieldError::invalid(
        measure.field,
        format!(
            "{} = {x} is outside the plausible range {}–{} {}.",
            measure.field, measure.min, measure.max, measure.unit
        ),
    ))
}

/// °F → °C.
pub fn fahrenheit_to_celsius(f: f64) -> f64 {
    (f - 32.0) * 5.0 / 9.0
}

/// °C → °F.
pub fn celsius_to_fahrenheit(c: f64) -> f64 {
    c * 9.0 / 5.0 + 32.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<RiskRequest, FieldError> {
        RiskRequest::parse(v.as_object().unwrap())
    }

    fn full() -> Value {
        json!({"age_years": 25, "systolic_bp_mmhg": 130, "diastolic_bp_mmhg": 80,
               "blood_glucose_mmol_l": 15, "body_temperature_c": 37, "heart_rate_bpm": 86})
    }

    #[test]
    fn a_value_outside_its_range_names_the_field_and_the_range() {
        let mut body = full();
        body["systolic_bp_mmhg"] = json!(300);
        let e = parse(body).unwrap_err();
        assert_eq!(
            (e.param.as_str(), e.code),
            ("systolic_bp_mmhg", "invalid_field")
        );
        assert!(e.message.contains("60–260"), "{}", e.message);
    }

    #[test]
    fn fahrenheit_is_converted_and_both_temperatures_are_refused() {
        let mut body = full();
        body.as_object_mut().unwrap().remove("body_temperature_c");
        body["body_temperature_f"] = json!(98.6);
        let m = parse(body.clone()).unwrap().merge(None).unwrap();
        assert!((m.body_temperature_c - 37.0).abs() < 1e-9);
        body["body_temperature_c"] = json!(37);
        assert_eq!(parse(body).unwrap_err().param, "body_temperature_f");
    }

    #[test]
    fn stored_values_fill_what_the_request_lacks_and_the_request_wins() {
        let req = parse(json!({"patient_id": "p1", "systolic_bp_mmhg": 150})).unwrap();
        let stored = RiskFeatures {
            age_years: Some(30.0),
            systolic_bp_mmhg: Some(120.0),
            diastolic_bp_mmhg: Some(85.0),
            blood_glucose_mmol_l: Some(7.0),
            body_temperature_c: Some(36.8),
            heart_rate_bpm: Some(70.0),
            ..RiskFeatures::default()
        };
        let m = req.merge(Some(&stored)).unwrap();
        assert_eq!((m.systolic_bp_mmhg, m.age_years), (150.0, 30.0));
        let e = req.merge(None).unwrap_err();
        assert_eq!((e.param.as_str(), e.code), ("age_years", "missing_field"));
        assert!(e.message.contains("heart_rate_bpm"), "{}", e.message);
    }

    #[test]
    fn unknown_fields_and_strings_are_refused_by_name() {
        let mut body = full();
        body["bmi"] = json!(22);
        assert_eq!(parse(body).unwrap_err().param, "bmi");
        let mut body = full();
        body["age_years"] = json!("25");
        assert_eq!(parse(body).unwrap_err().param, "age_years");
    }
}

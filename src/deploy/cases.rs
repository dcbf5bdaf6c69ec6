//! The post-deploy check's synthetic risk requests: extreme but possible patients (every
//! measurement near the edges of its physiological range, severe hypertension among them) and
//! impossible ones (one value outside its range, or a required value missing). Drawn from a
//! seeded generator so two runs with the same `--seed` send the same requests.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

/// A measurement the risk endpoint takes and its plausible range (inclusive), as the endpoint's
/// contract states it (`POST /v1/risk/obstetric`, docs/deploy.md).
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub field: &'static str,
    pub min: f64,
    pub max: f64,
}

/// The ranges: outside them a value is a typing or unit error and must get a 4xx naming it.
pub const RANGES: [Range; 7] = [
    r("age_years", 10.0, 60.0),
    r("systolic_bp_mmhg", 60.0, 260.0),
    r("diastolic_bp_mmhg", 30.0, 160.0),
    r("blood_glucose_mmol_l", 1.0, 40.0),
    r("body_temperature_c", 34.0, 43.0),
    r("heart_rate_bpm", 30.0, 220.0),
    r("gestational_week", 1.0, 45.0),
];

/// Fields every prediction needs.
pub const REQUIRED: [&str; 6] = [
    "age_years",
    "systolic_bp_mmhg",
    "diastolic_bp_mmhg",
    "blood_glucose_mmol_l",
    "body_temperature_c",
    "heart_rate_bpm",
];

const fn r(field: &'static str, min: f64, max: f64) -> Range {
    Range { field, min, max }
}

/// What the answer to a case must be.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// A prediction inside clinical ranges; `severe` (systolic ≥ 160 or diastolic ≥ 110) must be
    /// `high` and escalated.
    Answer { severe: bool },
    /// A 4xx whose error names this field.
    Reject { field: &'static str },
}

/// One synthetic request.
#[derive(Debug, Clone)]
pub struct RiskCase {
    /// Short description for the failure list (`severe hypertension 171/96`, …).
    pub label: String,
    pub body: Value,
    pub expect: Expect,
}

/// `count` cases from `seed`: a fifth each of low extremes, high extremes (below the severe
/// line), severe hypertension, one value out of range, and a missing value or a °F temperature.
pub fn risk_cases(count: usize, seed: u64) -> Vec<RiskCase> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count).map(|i| case(i, &mut rng)).collect()
}

fn case(i: usize, rng: &mut ChaCha8Rng) -> RiskCase {
    match i % 5 {
        0 => edge_patient(rng, Edge::Low),
        1 => edge_patient(rng, Edge::High),
        2 => severe(rng),
        3 => out_of_range(i / 5, rng),
        _ if (i / 5).is_multiple_of(2) => missing(i / 10, rng),
        _ => fahrenheit(rng),
    }
}

#[derive(Clone, Copy)]
enum Edge {
    Low,
    High,
}

/// Within the lowest or highest tenth of every range (the blood pressure kept below the severe
/// line on the high side, so the model, not the override, decides).
fn edge_patient(rng: &mut ChaCha8Rng, edge: Edge) -> RiskCase {
    let mut body = Map::new();
    for range in RANGES {
        let (lo, hi) = match (edge, range.field) {
            (Edge::High, "systolic_bp_mmhg") => (140.0, 159.0),
            (Edge::High, "diastolic_bp_mmhg") => (95.0, 109.0),
            (Edge::High, "body_temperature_c") => (41.5, 43.0),
            _ => band(range, edge),
        };
        body.insert(range.field.into(), round1(rng.random_range(lo..=hi)).into());
    }
    let name = match edge {
        Edge::Low => "low extremes",
        Edge::High => "high extremes",
    };
    RiskCase {
        label: format!("{name} {}", bp(&body)),
        body: Value::Object(body),
        expect: Expect::Answer { severe: false },
    }
}

fn band(range: Range, edge: Edge) -> (f64, f64) {
    let tenth = (range.max - range.min) / 10.0;
    match edge {
        Edge::Low => (range.min, range.min + tenth),
        Edge::High => (range.max - tenth, range.max),
    }
}

/// Systolic ≥ 160 or diastolic ≥ 110 (either or both), everything else ordinary.
fn severe(rng: &mut ChaCha8Rng) -> RiskCase {
    let mut body = ordinary(rng);
    // Diastolic stays at least 15 below systolic: the endpoint refuses the impossible reverse.
    let (sys, dia) = match rng.random_range(0..3) {
        0 => (rng.random_range(160..=260), rng.random_range(60..=100)),
        1 => {
            let dia = rng.random_range(110..=130);
            (rng.random_range(dia + 15..=159), dia)
        }
        _ => {
            let sys = rng.random_range(160..=260);
            (sys, rng.random_range(110..=(sys - 20).min(160)))
        }
    };
    body.insert("systolic_bp_mmhg".into(), sys.into());
    body.insert("diastolic_bp_mmhg".into(), dia.into());
    RiskCase {
        label: format!("severe hypertension {sys}/{dia}"),
        body: Value::Object(body),
        expect: Expect::Answer { severe: true },
    }
}

/// One field just outside its range (below or above, alternating), the rest ordinary.
fn out_of_range(n: usize, rng: &mut ChaCha8Rng) -> RiskCase {
    let range = RANGES[n % RANGES.len()];
    let value = if n.is_multiple_of(2) {
        range.min - rng.random_range(0.5..=range.min.max(1.0))
    } else {
        range.max + rng.random_range(0.5..=50.0)
    };
    let mut body = ordinary(rng);
    body.insert(range.field.into(), round1(value).into());
    RiskCase {
        label: format!("impossible {} = {}", range.field, round1(value)),
        body: Value::Object(body),
        expect: Expect::Reject { field: range.field },
    }
}

/// A required field left out.
fn missing(n: usize, rng: &mut ChaCha8Rng) -> RiskCase {
    let field = REQUIRED[n % REQUIRED.len()];
    let mut body = ordinary(rng);
    body.remove(field);
    RiskCase {
        label: format!("missing {field}"),
        body: Value::Object(body),
        expect: Expect::Reject { field },
    }
}

/// A fever given in °F (the endpoint takes either unit).
fn fahrenheit(rng: &mut ChaCha8Rng) -> RiskCase {
    let mut body = ordinary(rng);
    body.remove("body_temperature_c");
    let f = round1(rng.random_range(100.4..=107.6));
    body.insert("body_temperature_f".into(), json!(f));
    RiskCase {
        label: format!("fever {f} °F"),
        body: Value::Object(body),
        expect: Expect::Answer { severe: false },
    }
}

/// An ordinary patient: every value mid-range, blood pressure normal.
fn ordinary(rng: &mut ChaCha8Rng) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("age_years".into(), rng.random_range(18..=40).into());
    body.insert(
        "systolic_bp_mmhg".into(),
        rng.random_range(100..=130).into(),
    );
    body.insert("diastolic_bp_mmhg".into(), rng.random_range(60..=85).into());
    body.insert(
        "blood_glucose_mmol_l".into(),
        round1(rng.random_range(4.0..=7.0)).into(),
    );
    body.insert(
        "body_temperature_c".into(),
        round1(rng.random_range(36.2..=37.4)).into(),
    );
    body.insert("heart_rate_bpm".into(), rng.random_range(65..=95).into());
    body.insert("gestational_week".into(), rng.random_range(12..=38).into());
    body
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn bp(body: &Map<String, Value>) -> String {
    format!("{}/{}", body["systolic_bp_mmhg"], body["diastolic_bp_mmhg"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_requests() {
        let a: Vec<_> = risk_cases(50, 7).into_iter().map(|c| c.body).collect();
        let b: Vec<_> = risk_cases(50, 7).into_iter().map(|c| c.body).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn possible_cases_stay_inside_every_range_and_impossible_ones_leave_exactly_one() {
        for case in risk_cases(200, 1) {
            let outside: Vec<&str> = RANGES
                .iter()
                .filter(|r| {
                    case.body[r.field]
                        .as_f64()
                        .is_some_and(|v| v < r.min || v > r.max)
                })
                .map(|r| r.field)
                .collect();
            match case.expect {
                Expect::Answer { .. } => {
                    assert!(outside.is_empty(), "{}: {outside:?}", case.label);
                    let (sys, dia) = (
                        &case.body["systolic_bp_mmhg"],
                        &case.body["diastolic_bp_mmhg"],
                    );
                    assert!(
                        dia.as_f64() < sys.as_f64(),
                        "{}: diastolic above systolic",
                        case.label
                    );
                }
                Expect::Reject { field } if case.body.get(field).is_none() => {
                    assert!(outside.is_empty(), "{}", case.label)
                }
                Expect::Reject { field } => assert_eq!(outside, [field], "{}", case.label),
            }
        }
    }

    #[test]
    fn severe_cases_meet_the_override_line_and_the_others_stay_below_it() {
        for case in risk_cases(100, 3) {
            let sys = case.body["systolic_bp_mmhg"].as_f64().unwrap_or(0.0);
            let dia = case.body["diastolic_bp_mmhg"].as_f64().unwrap_or(0.0);
            if let Expect::Answer { severe } = case.expect {
                assert_eq!(severe, sys >= 160.0 || dia >= 110.0, "{}", case.label);
            }
        }
    }

    #[test]
    fn fifty_cases_cover_every_kind() {
        let cases = risk_cases(50, 22);
        let count = |f: &dyn Fn(&RiskCase) -> bool| cases.iter().filter(|c| f(c)).count();
        assert_eq!(count(&|c| c.expect == Expect::Answer { severe: true }), 10);
        assert_eq!(count(&|c| matches!(c.expect, Expect::Reject { .. })), 15);
        assert!(count(&|c| c.body.get("body_temperature_f").is_some()) >= 5);
    }
}

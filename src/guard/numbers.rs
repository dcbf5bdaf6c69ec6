//! Reading numbers out of normalised text: blood pressures (`16 por 11`, `16x11`, `160/110`,
//! `160 over 110`), gestational ages (`32 semanas`, `32ª semana`, `7 meses`, `week 30`),
//! temperatures next to a unit (`38,5 graus`, `101 f`), medicine amounts (`500 mg`,
//! `dois comprimidos`) and numeric schedules (`de 6 em 6 horas`, `8/8h`). Which of them matter,
//! and at what threshold, is the rules' business (`rules.rs`).

use super::lexicon::Signal;
use super::normalize::{Normalized, TokKind};
use super::signal::Signals;

/// Per token, the signals whose terms start or end there (bit sets, see [`Signal::bit`]).
#[derive(Debug, Default)]
pub struct Marks {
    pub starts: Vec<Signals>,
    pub ends: Vec<Signals>,
}

impl Marks {
    pub fn new(tokens: usize) -> Marks {
        Marks {
            starts: vec![0; tokens],
            ends: vec![0; tokens],
        }
    }

    pub fn starts_at(&self, tok: usize, s: Signal) -> bool {
        self.starts.get(tok).is_some_and(|b| b & s.bit() != 0)
    }

    pub fn ends_at(&self, tok: usize, s: Signal) -> bool {
        self.ends.get(tok).is_some_and(|b| b & s.bit() != 0)
    }
}

/// A blood pressure reading, in mmHg.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BloodPressure {
    pub systolic: f64,
    pub diastolic: f64,
    /// Token range of `A op B`.
    pub first: usize,
    pub end: usize,
    /// Written with `por`/`over`/`sobre`, or in mmHg: unmistakably a blood pressure. `16/11` or
    /// `12x8` could be a date or a size, and only count next to a word like `pressão`.
    pub unambiguous: bool,
}

/// Every `A op B` that reads as a plausible blood pressure. Brazilians often say it in cmHg
/// (`16 por 11` is 160/110): values under 30 are scaled by ten.
pub fn blood_pressures(n: &Normalized) -> Vec<BloodPressure> {
    let mut out = Vec::new();
    for i in 0..n.tokens.len().saturating_sub(2) {
        let (Some(a), Some(b)) = (n.number(i), n.number(i + 2)) else {
            continue;
        };
        let op = n.tok(i + 1);
        let worded = matches!(op, "por" | "sobre" | "over");
        if !(worded || matches!(op, "x" | "/")) {
            continue;
        }
        let cm = a < 30.0 && b < 30.0;
        // In cmHg a systolic above 25 or a diastolic above 16 is not a reading (`26/11` is a date).
        if cm && (a > 25.0 || b > 16.0) {
            continue;
        }
        let (sys, dia) = if cm { (a * 10.0, b * 10.0) } else { (a, b) };
        if !(70.0..=300.0).contains(&sys) || !(30.0..=200.0).contains(&dia) || sys <= dia {
            continue;
        }
        out.push(BloodPressure {
            systolic: sys,
            diastolic: dia,
            first: i,
            end: i + 3,
            unambiguous: worded || !cm,
        });
    }
    out
}

/// Gestational ages in weeks, with the token of the number: `32 semanas`, `32 a semana`
/// (`32ª`), `semana 32`, `32s`, `7 meses` (months count as 4.3 weeks, rounded down so that
/// `8 meses` stays before 37 weeks).
pub fn gestational_ages(n: &Normalized, m: &Marks) -> Vec<(f64, usize)> {
    let mut out = Vec::new();
    for i in 0..n.tokens.len() {
        let Some(v) = n.number(i).filter(|v| (1.0..=45.0).contains(v)) else {
            continue;
        };
        let mut after = i + 1;
        if after < n.tokens.len() && matches!(n.tok(after), "a" | "o") {
            after += 1;
        }
        let before_week = i > 0 && m.ends_at(i - 1, Signal::WeekUnit);
        if m.starts_at(after, Signal::WeekUnit) || before_week {
            out.push((v, i));
        } else if (m.starts_at(i + 1, Signal::MonthUnit)
            || i > 0 && m.ends_at(i - 1, Signal::MonthUnit))
            && v <= 10.0
        {
            out.push(((v * 4.3).floor(), i));
        }
    }
    out
}

/// A number followed by a temperature unit word (`graus`, `c`, `f`…), with whether the unit
/// is Fahrenheit.
pub fn temperatures_with_unit(n: &Normalized, m: &Marks) -> Vec<(f64, usize, bool)> {
    let mut out = Vec::new();
    for i in 0..n.tokens.len().saturating_sub(1) {
        if let Some(v) = n.number(i)
            && m.starts_at(i + 1, Signal::TemperatureUnit)
        {
            let f = matches!(n.tok(i + 1), "f" | "fahrenheit");
            out.push((v, i, f));
        }
    }
    out
}

/// Celsius for a reading taken as a body temperature, if plausible (34–45 °C, or 93–113 °F).
pub fn body_celsius(v: f64, fahrenheit: bool) -> Option<f64> {
    if fahrenheit || (93.0..=113.0).contains(&v) {
        let c = (v - 32.0) * 5.0 / 9.0;
        return (34.0..=45.0).contains(&c).then_some(c);
    }
    (34.0..=45.0).contains(&v).then_some(v)
}

/// An amount of medicine: a number or number word right before a dose unit (`500 mg`,
/// `2 comprimidos`, `dois comprimidos`, `1 a 2 gotas`) or before a medicine (`2 dipironas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    pub first: usize,
    pub end: usize,
    /// A mass unit (`g`) only counts next to a medicine: `30 g de proteína por dia` is food.
    pub needs_medicine: bool,
    /// Written in digits (`2 comprimidos`), not words (`um comprimido`).
    pub numeric: bool,
}

pub fn amounts(n: &Normalized, m: &Marks) -> Vec<Amount> {
    let mut out = Vec::new();
    for t in 1..n.tokens.len() {
        let unit = m.starts_at(t, Signal::DoseUnit);
        let medicine = m.starts_at(t, Signal::Medicine);
        let mass = m.starts_at(t, Signal::MassUnit);
        let numeric = n.tokens[t - 1].kind == TokKind::Number;
        // "2 dipironas" is an amount; "um analgésico" is not.
        let word = m.ends_at(t - 1, Signal::NumberWord) && (unit || mass);
        if (numeric && (unit || medicine || mass)) || word {
            let mut first = t - 1;
            // `1 a 2 comprimidos`, `1 ou 2`, `1 / 2`.
            if first >= 2 && n.tokens[first - 2].kind == TokKind::Number {
                first -= 2;
            }
            out.push(Amount {
                first,
                end: t + 1,
                needs_medicine: mass && !unit && !medicine,
                numeric,
            });
        }
    }
    out
}

/// Numeric schedules: `de 6 em 6 horas`, `6 em 6 h`, `8/8h`. Returns their first tokens.
pub fn numeric_schedules(n: &Normalized) -> Vec<usize> {
    let mut out = Vec::new();
    let num = |i: usize| n.tokens.get(i).is_some_and(|t| t.kind == TokKind::Number);
    let word = |i: usize, w: &[&str]| i < n.tokens.len() && w.contains(&n.tok(i));
    for i in 0..n.tokens.len() {
        if !num(i) || !num(i + 2) {
            continue;
        }
        let hours = word(i + 3, &["h", "hr", "hrs", "hora", "horas", "hours"]);
        if word(i + 1, &["em"]) && (hours || i > 0 && word(i - 1, &["de"])) {
            out.push(i.saturating_sub(1));
        } else if n.tokens[i + 1].kind == TokKind::Slash && hours {
            out.push(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::normalize::normalize_plain;

    fn bp(text: &str) -> Vec<(f64, f64, bool)> {
        blood_pressures(&normalize_plain(text))
            .into_iter()
            .map(|r| (r.systolic, r.diastolic, r.unambiguous))
            .collect()
    }

    #[test]
    fn blood_pressures_are_read_in_cmhg_and_mmhg_forms() {
        assert_eq!(bp("pressao 16 por 11"), vec![(160.0, 110.0, true)]);
        assert_eq!(bp("deu 16x11"), vec![(160.0, 110.0, false)]);
        assert_eq!(bp("160/110"), vec![(160.0, 110.0, true)]);
        assert_eq!(bp("160 x 110"), vec![(160.0, 110.0, true)]);
        assert_eq!(bp("15 por 10"), vec![(150.0, 100.0, true)]);
        assert_eq!(bp("bp 145 over 95"), vec![(145.0, 95.0, true)]);
        assert_eq!(bp("minha pressão 11 por 7"), vec![(110.0, 70.0, true)]);
    }

    #[test]
    fn implausible_pairs_are_not_blood_pressures() {
        assert!(bp("2 por 3").is_empty());
        assert!(bp("dia 26/11").is_empty());
        assert_eq!(bp("dia 12/11"), vec![(120.0, 110.0, false)]);
        assert!(bp("nota 10 por 10").is_empty());
    }

    #[test]
    fn numeric_schedules_are_found() {
        for t in ["de 6 em 6 horas", "8/8h", "6 em 6 h"] {
            assert_eq!(numeric_schedules(&normalize_plain(t)).len(), 1, "{t}");
        }
        assert!(numeric_schedules(&normalize_plain("10 vezes em 2 horas")).is_empty());
    }

    #[test]
    fn body_temperatures_convert_fahrenheit_and_refuse_implausible_values() {
        assert_eq!(body_celsius(38.5, false), Some(38.5));
        assert!((body_celsius(101.0, false).unwrap() - 38.33).abs() < 0.01);
        assert_eq!(body_celsius(60.0, false), None);
        assert_eq!(body_celsius(20.0, true), None);
    }
}

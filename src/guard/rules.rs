//! Red-flag rules that no single term expresses, with their thresholds read from
//! `guard/rules.toml`: co-occurrence of symptoms (headache + visual disturbance), blood pressure
//! (≥ 160/110 alone, ≥ 140/90 with symptoms), fever (a measured ≥ 38 °C, or fever reported
//! without a lower reading) and contractions before 37 weeks. Also the context windows used by
//! the negation and question cues.

use std::path::Path;

use serde::Deserialize;

use super::GuardLoadError;
use super::context::Analysis;
use super::lexicon::{Signal, line_of, read_toml};
use super::numbers;
use super::signal::Signals;

/// Signals that count for self-harm only when nothing qualifies them: "já decidi," but not "já
/// decidi o nome"; "não aguento mais." but not "não aguento mais esperar"; "eu morro?" but not
/// "eu morro de culpa".
const BARE: [Signal; 3] = [Signal::Despair, Signal::Decided, Signal::Death];

/// Words that may follow a bare signal: a conjunction starts the next thought.
const CONJUNCTIONS: [&str; 4] = ["e", "and", "so", "entao"];

/// Does the term ending before token `end` stand bare (at a stop, a comma, the end or a
/// conjunction)?
fn bare(a: &Analysis, end: usize) -> bool {
    end >= a.token_count()
        || a.norm.tokens[end].kind != super::normalize::TokKind::Word
        || CONJUNCTIONS.contains(&a.norm.tok(end))
}

/// A count of pills at least this large, before a medicine or a dose unit, is a bulk amount.
const BULK_COUNT: f64 = 10.0;

/// Hour words after a kick count ("3 em 1 hora", "2 movements in an hour").
const HOURS: [&str; 6] = ["hora", "horas", "hour", "hours", "hr", "hrs"];

/// Words after a number that make it a count or a duration, not a temperature.
const NOT_TEMPERATURE: [&str; 18] = [
    "dia", "dias", "hora", "horas", "h", "min", "minutos", "ano", "anos", "vez", "vezes", "day",
    "days", "hour", "hours", "year", "years", "times",
];

/// The loaded rules.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Words allowed between a negation and the symptom it negates ("não tenho nenhum sangramento").
    pub negation_max_gap: usize,
    /// Words allowed between a question / hypothetical cue and the term ("o que é a tal …").
    pub cue_max_gap: usize,
    /// Words allowed between an amount and what makes it a dose instruction (schedule, medicine).
    pub dose_window: usize,
    cooccurrence: Vec<Cooccurrence>,
    bp: BloodPressureRule,
    fever: FeverRule,
    preterm_before_week: f64,
    /// Contractions this many minutes apart or closer are labour (fifth pass).
    contraction_interval_minutes: Option<f64>,
    /// Signals that together are self-harm, whatever their context (never negated).
    self_harm: Vec<Cooccurrence>,
    /// A kick count below this many movements an hour is reduced movement (seventh pass).
    kick_count_min: Option<f64>,
}

#[derive(Debug, Clone)]
struct Cooccurrence {
    id: String,
    all: Signals,
    any: Signals,
    within: Option<usize>,
    /// Only when the message states a gestational age of at least this many weeks.
    from_week: Option<f64>,
}

#[derive(Debug, Clone)]
struct BloodPressureRule {
    severe_systolic: f64,
    severe_diastolic: f64,
    high_systolic: f64,
    high_diastolic: f64,
    /// Symptoms that make a high (not severe) reading a red flag.
    high_with: Signals,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeverRule {
    min_celsius: f64,
    reported_fever_escalates: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    context: RawContext,
    #[serde(default)]
    cooccurrence: Vec<RawCooccurrence>,
    blood_pressure: RawBloodPressure,
    fever: FeverRule,
    preterm_contractions: RawPreterm,
    #[serde(default)]
    regular_contractions: Option<RawRegularContractions>,
    #[serde(default)]
    self_harm_cooccurrence: Vec<RawCooccurrence>,
    #[serde(default)]
    kick_count: Option<RawKickCount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKickCount {
    min_per_hour: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegularContractions {
    max_minutes_apart: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContext {
    negation_max_gap: usize,
    cue_max_gap: usize,
    dose_window: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCooccurrence {
    id: toml::Spanned<String>,
    all: Vec<String>,
    #[serde(default)]
    any: Vec<String>,
    within: Option<usize>,
    from_week: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBloodPressure {
    severe_systolic: f64,
    severe_diastolic: f64,
    high_systolic: f64,
    high_diastolic: f64,
    high_with_any: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreterm {
    before_week: f64,
}

impl Rules {
    /// Reads `path` (normally `guard/rules.toml`).
    pub fn load(path: &Path) -> Result<Rules, GuardLoadError> {
        let (raw, text): (RawRules, String) = read_toml(path)?;
        let signals = |names: &[String], line: Option<usize>| -> Result<Signals, GuardLoadError> {
            let mut bits = 0;
            for n in names {
                let s = Signal::from_name(n).ok_or_else(|| {
                    GuardLoadError::new(path, line, format!("`{n}` is not a known signal"))
                })?;
                bits |= s.bit();
            }
            Ok(bits)
        };
        let combine = |raw: Vec<RawCooccurrence>, prefix: &str| {
            let mut out = Vec::new();
            for c in raw {
                let line = Some(line_of(&text, c.id.span().start));
                if c.all.is_empty() {
                    return Err(GuardLoadError::new(
                        path,
                        line,
                        "a co-occurrence needs `all`",
                    ));
                }
                out.push(Cooccurrence {
                    all: signals(&c.all, line)?,
                    any: signals(&c.any, line)?,
                    within: c.within,
                    from_week: c.from_week,
                    id: format!("{prefix}:{}", c.id.into_inner()),
                });
            }
            Ok(out)
        };
        let cooccurrence = combine(raw.cooccurrence, "rule")?;
        let self_harm = combine(raw.self_harm_cooccurrence, "self_harm_rule")?;
        let b = raw.blood_pressure;
        let bp = BloodPressureRule {
            severe_systolic: b.severe_systolic,
            severe_diastolic: b.severe_diastolic,
            high_systolic: b.high_systolic,
            high_diastolic: b.high_diastolic,
            high_with: signals(&b.high_with_any, None)?,
        };
        if bp.high_systolic > bp.severe_systolic || bp.high_diastolic > bp.severe_diastolic {
            return Err(GuardLoadError::new(
                path,
                None,
                "[blood_pressure] high thresholds must not exceed the severe ones",
            ));
        }
        Ok(Rules {
            negation_max_gap: raw.context.negation_max_gap,
            cue_max_gap: raw.context.cue_max_gap,
            dose_window: raw.context.dose_window,
            cooccurrence,
            bp,
            fever: raw.fever,
            preterm_before_week: raw.preterm_contractions.before_week,
            contraction_interval_minutes: raw.regular_contractions.map(|r| r.max_minutes_apart),
            self_harm,
            kick_count_min: raw.kick_count.map(|k| k.min_per_hour),
        })
    }

    /// Pushes the id of every rule that fires on `a`.
    pub(crate) fn red_flags(&self, a: &Analysis, fired: &mut Vec<String>) {
        let live = a.live_symptoms();
        let ages = &a.ages;
        for c in &self.cooccurrence {
            if live & c.all == c.all
                && (c.any == 0 || live & c.any != 0)
                && c.within.is_none_or(|w| near_each_other(a, c.all, c.any, w))
                && c.from_week
                    .is_none_or(|from| ages.iter().any(|(w, _)| *w >= from))
            {
                fired.push(c.id.clone());
            }
        }
        self.blood_pressure(a, live, fired);
        self.fever(a, live, fired);
        if occasional_aside(a).next().is_some()
            && ages.iter().any(|(w, _)| *w < self.preterm_before_week)
        {
            fired.push("rule:preterm_contractions".into());
        }
        if self.regular_contractions(a) {
            fired.push("rule:regular_contractions".into());
        }
        if self.kick_count_low(a) {
            fired.push("rule:kick_count_low".into());
        }
    }

    /// Pushes the id of every self-harm combination present in `a`: its signals count wherever
    /// they stand, like self-harm terms ("não aguento mais" + "já decidi"; "fico imaginando" +
    /// "derrubar ele da escada").
    pub(crate) fn self_harm(&self, a: &Analysis, fired: &mut Vec<String>) {
        // Per token, the signals starting there; negation and the like do not matter here.
        let mut at: Vec<Signals> = vec![0; a.token_count()];
        for h in &a.hits {
            if let super::lexicon::Kind::Signal(s) = a.lex.entry(h.entry).kind
                && (!BARE.contains(&s) || bare(a, h.end))
            {
                at[h.first] |= s.bit();
            }
        }
        // "uns 30 paracetamol", "about 25 tylenol": a count of ten or more before a medicine or
        // a dose unit is a bulk amount (seventh pass).
        for i in 0..at.len().saturating_sub(1) {
            if a.norm.number(i).is_some_and(|v| v >= BULK_COUNT)
                && (a.marks.starts_at(i + 1, Signal::Medicine)
                    || a.marks.starts_at(i + 1, Signal::DoseUnit))
            {
                at[i] |= Signal::Bulk.bit();
            }
        }
        let present = at.iter().fold(0, |bits, s| bits | s);
        for c in &self.self_harm {
            let anchors = at.iter().enumerate().map(|(t, &s)| (s, t));
            if present & c.all == c.all
                && (c.any == 0 || present & c.any != 0)
                && c.within
                    .is_none_or(|w| within_window(anchors, |t| at[t], at.len(), c.all, c.any, w))
            {
                fired.push(c.id.clone());
            }
        }
    }

    /// Contractions with an interval of a few minutes in their sentence ("a barriga fica dura
    /// feito pedra a cada 6 ou 7 min", "tightening every 4 minutes"): labour, whatever the week.
    /// A number counts when "min"/"minutos"/"minutes" follows it and it is no question or past.
    fn regular_contractions(&self, a: &Analysis) -> bool {
        let Some(max) = self.contraction_interval_minutes else {
            return false;
        };
        let contractions: Vec<usize> = occasional_aside(a).collect();
        if contractions.is_empty() {
            return false;
        }
        (0..a.token_count()).any(|i| {
            a.norm.number(i).is_some_and(|v| v > 0.0 && v <= max)
                && a.marks.starts_at(i + 1, Signal::MinuteUnit)
                && !a.number_suppressed(i)
                && contractions.iter().any(|&c| a.same_sentence(c, i))
        })
    }

    /// A kick count below the minimum per hour ("fiz o mobilograma e deu 3 em 1 hora", "kick
    /// count: 3 kicks in 2 hours"; "8 kicks in the first hour" passes): a number, not itself a
    /// number of hours, with an hour word within a few words after it, in the sentence of a
    /// count word that counts.
    fn kick_count_low(&self, a: &Analysis) -> bool {
        let Some(min) = self.kick_count_min else {
            return false;
        };
        let counts = || {
            a.live_symptom_hits()
                .iter()
                .filter(|(s, _)| *s == Signal::KickCount)
                .map(|&(_, t)| t)
        };
        if counts().next().is_none() {
            return false;
        }
        let n = a.token_count();
        let hour = |t: usize| t < n && HOURS.contains(&a.norm.tok(t));
        (0..n).any(|i| {
            let Some(count) = a.norm.number(i) else {
                return false;
            };
            // "em 2 horas": per hour; "em uma hora", "in the first hour": one.
            let per_hour = (i + 2..(i + 6).min(n)).find(|&t| hour(t)).map(|h| {
                let hours = a.norm.number(h - 1).filter(|&v| v > 0.0).unwrap_or(1.0);
                count / hours
            });
            !hour(i + 1)
                && per_hour.is_some_and(|r| r < min)
                && !a.number_suppressed(i)
                && counts().any(|c| a.same_sentence(c, i))
        })
    }

    fn blood_pressure(&self, a: &Analysis, live: Signals, fired: &mut Vec<String>) {
        let cue = a.has(Signal::BloodPressure);
        let bp = &self.bp;
        for r in numbers::blood_pressures(&a.norm) {
            if (!r.unambiguous && !cue) || a.number_suppressed(r.first) {
                continue;
            }
            if r.systolic >= bp.severe_systolic || r.diastolic >= bp.severe_diastolic {
                fired.push("rule:blood_pressure_severe".into());
            } else if (r.systolic >= bp.high_systolic || r.diastolic >= bp.high_diastolic)
                && live & bp.high_with != 0
            {
                fired.push("rule:blood_pressure_high_with_symptoms".into());
            }
        }
    }

    /// A temperature counts when a fever/temperature word is near it in its sentence, or when
    /// written with a unit (`39 graus`) in a sentence that is not about the weather.
    fn fever(&self, a: &Analysis, live: Signals, fired: &mut Vec<String>) {
        let n = a.token_count();
        // Tokens within 8 words of a fever word that counts (or a temperature word), same sentence.
        let mut near_cue = vec![false; n];
        let cues = a
            .signal_hits(Signal::Fever)
            .filter(|h| a.suppressed(h).is_none())
            .chain(a.signal_hits(Signal::Temperature));
        for h in cues {
            let (from, to) = (
                h.first.saturating_sub(8),
                (h.first + 8).min(n.saturating_sub(1)),
            );
            for (t, near) in near_cue.iter_mut().enumerate().take(to + 1).skip(from) {
                *near |= a.same_sentence(h.first, t);
            }
        }
        let mut weather = vec![false; n.max(1)];
        for h in a.signal_hits(Signal::Weather) {
            weather[a.sentence_of(h.first) as usize] = true;
        }
        let weather_at = |t: usize| {
            weather
                .get(a.sentence_of(t) as usize)
                .copied()
                .unwrap_or(false)
        };
        let with_unit = numbers::temperatures_with_unit(&a.norm, &a.marks);
        let mut readings = Vec::new();
        // A bare number near "febre" is a temperature, unless it counts something else.
        let mut other = vec![false; n];
        for &(v, tok, f) in &with_unit {
            other[tok] = true;
            if (near_cue[tok] || !weather_at(tok)) && !a.number_suppressed(tok) {
                readings.extend(numbers::body_celsius(v, f));
            }
        }
        for r in numbers::blood_pressures(&a.norm) {
            other[r.first..r.end].fill(true);
        }
        for &(_, tok) in &a.ages {
            other[tok] = true;
        }
        let units = [
            Signal::DoseUnit,
            Signal::MassUnit,
            Signal::WeekUnit,
            Signal::MonthUnit,
        ];
        for (i, &o) in other.iter().enumerate() {
            let next = i + 1;
            let counts_something = units.iter().any(|s| a.marks.starts_at(next, *s))
                || (next < n && NOT_TEMPERATURE.contains(&a.norm.tok(next)));
            if let Some(v) = a.norm.number(i)
                && !o
                && !counts_something
                && near_cue[i]
                && !a.number_suppressed(i)
            {
                readings.extend(numbers::body_celsius(v, false));
            }
        }
        let fever_word = live & Signal::Fever.bit() != 0;
        if readings.iter().any(|c| *c >= self.fever.min_celsius) {
            fired.push("rule:fever_measured".into());
        } else if readings.is_empty() && fever_word && self.fever.reported_fever_escalates {
            fired.push("rule:fever_reported".into());
        }
    }
}

/// Is there a live hit of the first `all` signal with a live hit of every other `all` signal and
/// of one `any` signal within `w` words?
fn near_each_other(a: &Analysis, all: Signals, any: Signals, w: usize) -> bool {
    let anchors = a.live_symptom_hits().iter().map(|&(s, t)| (s.bit(), t));
    within_window(anchors, |t| a.live_at(t), a.token_count(), all, any, w)
}

/// The window test shared by the symptom and the self-harm combinations: is there an anchor (a
/// hit of the first `all` signal, as `(its signal's bit, its first token)`) with every other `all`
/// signal and one `any` signal starting within `w` words of it (`at`: the signals starting at a
/// token)?
fn within_window(
    anchors: impl IntoIterator<Item = (Signals, usize)>,
    at: impl Fn(usize) -> Signals,
    tokens: usize,
    all: Signals,
    any: Signals,
    w: usize,
) -> bool {
    let Some(lead) = Signal::ALL.iter().copied().find(|s| s.bit() & all != 0) else {
        return false;
    };
    let w = w.min(64);
    anchors
        .into_iter()
        .filter(|&(bit, _)| bit & lead.bit() != 0)
        .any(|(_, anchor)| {
            let from = anchor.saturating_sub(w);
            let to = (anchor + w).min(tokens.saturating_sub(1));
            let near = (from..=to).fold(0, |bits, t| bits | at(t));
            near & all == all && (any == 0 || near & any != 0)
        })
}

/// First tokens of the contraction hits that count and are not said to come seldom ("a barriga
/// endurece uma vez por semana", "tightening maybe once a day"): those are no labour.
fn occasional_aside<'a>(a: &'a Analysis) -> impl Iterator<Item = usize> + 'a {
    let seldom: Vec<u32> = a
        .signal_hits(Signal::Occasional)
        .map(|h| a.sentence_of(h.first))
        .collect();
    a.live_symptom_hits()
        .iter()
        .filter(|(s, _)| *s == Signal::Contraction)
        .map(|&(_, t)| t)
        .filter(move |&t| !seldom.contains(&a.sentence_of(t)))
}

//! Input classification: one user message → the categories it falls in (red flag, self-harm,
//! dosing request, PII), the actions they call for, and the decision (escalate with a notice,
//! block with a safe reply, or pass). Also the shared [`Analysis`] of a text — normalisation,
//! lexicon hits, sentence and clause boundaries, and the context cues (negation, "já passou",
//! questions *about* a sign, hypotheticals) that keep a mention from counting as a symptom.

use super::lexicon::{Hit, Kind, Lexicon, Signal};
use super::normalize::{Normalized, TokKind};
use super::numbers::{self, Marks};
use super::rules::Rules;
use super::{Action, Category, Decision, InputVerdict, Lang, NoticeKind, notices::Notices, pii};

/// Signals that are symptoms: they count towards the rules only when not negated or past.
const SYMPTOMS: [Signal; 10] = [
    Signal::Headache,
    Signal::Visual,
    Signal::Swelling,
    Signal::FaceOrHands,
    Signal::Sudden,
    Signal::Epigastric,
    Signal::Persistent,
    Signal::Contraction,
    Signal::Fever,
    Signal::HighBloodPressure,
];

/// A context cue found in the text.
#[derive(Debug, Clone, Copy)]
struct Cue {
    first: usize,
    end: usize,
    signal: Signal,
    lang: Lang,
    gap: usize,
}

/// A text read once for every check that follows.
pub(crate) struct Analysis<'g> {
    pub lex: &'g Lexicon,
    pub norm: Normalized,
    pub hits: Vec<Hit>,
    pub marks: Marks,
    pub lang: Lang,
    /// Per token: which sentence (broken by `.`, `!`, `?`), which part of it (also broken by
    /// "mas", "but") and which clause (also broken by `,`).
    stop_sentence: Vec<u32>,
    sentence: Vec<u32>,
    clause: Vec<u32>,
    cues: Vec<Cue>,
}

impl<'g> Analysis<'g> {
    pub fn new(lex: &'g Lexicon, rules: &Rules, text: &str, hint: Option<Lang>) -> Analysis<'g> {
        let norm = lex.normalize(text);
        let scan = lex.scan(&norm);
        let lang = detect_language(scan.votes, hint);
        let n = norm.tokens.len();
        let mut marks = Marks::new(n);
        let mut cues = Vec::new();
        let mut breaks = vec![false; n];
        for h in &scan.hits {
            let e = lex.entry(h.entry);
            let Kind::Signal(s) = e.kind else { continue };
            marks.starts[h.first] |= s.bit();
            marks.ends[h.end - 1] |= s.bit();
            match s {
                Signal::ClauseBreak => breaks[h.first] = true,
                Signal::Negation
                | Signal::Resolved
                | Signal::Informational
                | Signal::Hypothetical
                | Signal::BenignPhrase => {
                    let default = match s {
                        Signal::Negation | Signal::Resolved => rules.negation_max_gap,
                        _ => rules.cue_max_gap,
                    };
                    cues.push(Cue {
                        first: h.first,
                        end: h.end,
                        signal: s,
                        lang: e.lang,
                        gap: e.max_gap.unwrap_or(default),
                    });
                }
                _ => {}
            }
        }
        // "passou" inside "não passou", or "passed" inside "passed out", is no resolution.
        let resolution_blockers: Vec<(usize, usize)> = scan
            .hits
            .iter()
            .filter(|h| {
                matches!(
                    lex.entry(h.entry).kind,
                    Kind::RedFlag | Kind::Signal(Signal::Persistent)
                )
            })
            .map(|h| (h.first, h.end))
            .collect();
        cues.retain(|c| {
            c.signal != Signal::Resolved
                || !resolution_blockers
                    .iter()
                    .any(|&(f, e)| f < c.end && c.first < e)
        });
        let mut stop_sentence = Vec::with_capacity(n);
        let (mut sentence, mut clause) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut st, mut s, mut c) = (0u32, 0u32, 0u32);
        for (i, t) in norm.tokens.iter().enumerate() {
            if t.kind == TokKind::Stop {
                st += 1;
            }
            if t.kind == TokKind::Stop || breaks[i] {
                s += 1;
                c += 1;
            } else if t.kind == TokKind::Comma {
                c += 1;
            }
            stop_sentence.push(st);
            sentence.push(s);
            clause.push(c);
        }
        Analysis {
            lex,
            norm,
            hits: scan.hits,
            marks,
            lang,
            stop_sentence,
            sentence,
            clause,
            cues,
        }
    }

    /// Hits of one signal, whatever their context.
    pub fn signal_hits(&self, s: Signal) -> impl Iterator<Item = &Hit> + '_ {
        self.hits
            .iter()
            .filter(move |h| self.lex.entry(h.entry).kind == Kind::Signal(s))
    }

    pub fn has(&self, s: Signal) -> bool {
        self.signal_hits(s).next().is_some()
    }

    /// Are tokens `a` and `b` in the same sentence (between full stops)?
    pub fn same_sentence(&self, a: usize, b: usize) -> bool {
        self.stop_sentence.get(a).is_some()
            && self.stop_sentence.get(a) == self.stop_sentence.get(b)
    }

    /// Why a hit does not describe a current symptom, if it does not: a negation just before it
    /// ("não tenho sangramento"), "já passou" in the same sentence (not inside a symptom phrase:
    /// "não passou", "passed out"), a question about it ("o que é…",
    /// "quais os sinais de…") or a hypothetical ("se eu tiver…") before it in the same clause, or a
    /// benign phrase around it ("sangramento na gengiva"). Cues only modify terms of their language.
    pub fn suppressed(&self, h: &Hit) -> Option<&'static str> {
        let lang = self.lex.entry(h.entry).lang;
        self.cues.iter().find_map(|c| {
            let before = c.end <= h.first && h.first - c.end <= c.gap;
            let same_clause = || self.clause[c.end - 1] == self.clause[h.first];
            let hit = match c.signal {
                Signal::BenignPhrase => c.first < h.end && h.first < c.end,
                _ if c.lang != lang => false,
                Signal::Negation | Signal::Informational | Signal::Hypothetical => {
                    before && same_clause()
                }
                // "tive dor de cabeça, mas já passou": after the symptom, anywhere in the sentence;
                // "já passou a dor": before it, within the gap and the same part of the sentence.
                Signal::Resolved if c.first >= h.end => {
                    self.stop_sentence[c.first] == self.stop_sentence[h.first]
                }
                Signal::Resolved => before && self.sentence[c.end - 1] == self.sentence[h.first],
                _ => false,
            };
            hit.then_some(match c.signal {
                Signal::Negation => "negated",
                Signal::Resolved => "resolved",
                Signal::BenignPhrase => "benign_phrase",
                _ => "not_current",
            })
        })
    }

    /// A number reading (blood pressure, temperature) asked about, or past ("febre de 39 ontem,
    /// mas já passou"), rather than reported. Cues of any language apply.
    pub fn number_suppressed(&self, first: usize) -> bool {
        self.cues.iter().any(|c| {
            let before = c.end <= first && first - c.end <= c.gap;
            match c.signal {
                Signal::Informational | Signal::Hypothetical => {
                    before && self.clause[c.end - 1] == self.clause[first]
                }
                Signal::Resolved if c.first > first => {
                    self.stop_sentence[c.first] == self.stop_sentence[first]
                }
                Signal::Resolved => before && self.sentence[c.end - 1] == self.sentence[first],
                _ => false,
            }
        })
    }

    /// Symptom signals present in the text and not suppressed (bit set).
    pub fn live_symptoms(&self) -> u32 {
        self.live_symptom_hits()
            .iter()
            .fold(0, |bits, (s, _)| bits | s.bit())
    }

    /// Each symptom hit not suppressed, with its first token.
    pub fn live_symptom_hits(&self) -> Vec<(Signal, usize)> {
        self.hits
            .iter()
            .filter_map(|h| match self.lex.entry(h.entry).kind {
                Kind::Signal(s) if SYMPTOMS.contains(&s) && self.suppressed(h).is_none() => {
                    Some((s, h.first))
                }
                _ => None,
            })
            .collect()
    }
}

/// The language from the lexicon votes, the hint breaking ties and near-ties, pt-BR by default
/// (the product's users are in Brazil).
fn detect_language(votes: [u32; 2], hint: Option<Lang>) -> Lang {
    let (pt, en) = (votes[Lang::PtBr as usize], votes[Lang::En as usize]);
    if pt >= en + 2 {
        Lang::PtBr
    } else if en >= pt + 2 {
        Lang::En
    } else if let Some(h) = hint {
        h
    } else if en > pt {
        Lang::En
    } else {
        Lang::PtBr
    }
}

/// Is the message asking how much of a medicine to take? Either a dose question next to a
/// medicine ("quantos mg de dipirona", "how much tylenol"), or a request with an amount
/// ("posso tomar 2 comprimidos?", "can I take 1000 mg?").
pub(crate) fn dosing_request(a: &Analysis) -> Option<&'static str> {
    let medicine = a.has(Signal::Medicine);
    if a.has(Signal::DoseQuestion) && medicine {
        return Some("dosing:question_with_medicine");
    }
    if a.has(Signal::DoseRequest)
        && numbers::amounts(&a.norm, &a.marks)
            .iter()
            .any(|am| am.numeric && (!am.needs_medicine || medicine))
    {
        return Some("dosing:request_with_amount");
    }
    None
}

/// Classifies one user message.
pub(crate) fn classify(
    lex: &Lexicon,
    rules: &Rules,
    notices: &Notices,
    text: &str,
    hint: Option<Lang>,
) -> InputVerdict {
    let a = Analysis::new(lex, rules, text, hint);
    let mut matched: Vec<String> = Vec::new();
    let (mut red_flag, mut self_harm) = (false, false);
    for h in &a.hits {
        let e = lex.entry(h.entry);
        match e.kind {
            Kind::SelfHarm if e.input => {
                self_harm = true;
                matched.push(e.id.clone());
            }
            Kind::RedFlag if a.suppressed(h).is_none() => {
                red_flag = true;
                matched.push(e.id.clone());
            }
            _ => {}
        }
    }
    let before = matched.len();
    rules.red_flags(&a, &mut matched);
    red_flag |= matched.len() > before;
    let dosing = dosing_request(&a);
    if let Some(id) = dosing {
        matched.push(id.to_string());
    }
    let spans = pii::find(text);
    for s in &spans {
        matched.push(format!("pii:{}", s.kind.as_str()));
    }
    let redacted =
        (!spans.is_empty()).then(|| pii::redact(text, &spans, |k| notices.placeholder(k, a.lang)));
    let mut seen = std::collections::HashSet::new();
    matched.retain(|m| seen.insert(m.clone()));

    let mut categories = Vec::new();
    for (on, c) in [
        (red_flag, Category::RedFlag),
        (self_harm, Category::SelfHarm),
        (dosing.is_some(), Category::MedicationDosing),
        (redacted.is_some(), Category::Pii),
    ] {
        if on {
            categories.push(c);
        }
    }
    let mut actions = Vec::new();
    for (on, act) in [
        (red_flag || self_harm, Action::Escalate),
        (dosing.is_some(), Action::Block),
        (redacted.is_some(), Action::Redact),
    ] {
        if on {
            actions.push(act);
        }
    }
    if actions.is_empty() {
        actions.push(Action::Pass);
    }
    // The crisis notice comes before anything else, then the urgent-care notice; a dosing
    // request is blocked even then, with the notices in front of the safe reply.
    let mut notice = Vec::new();
    if self_harm {
        notice.push(notices.text(NoticeKind::Crisis, a.lang));
    }
    if red_flag {
        notice.push(notices.text(NoticeKind::Urgent, a.lang));
    }
    let decision = if dosing.is_some() {
        notice.push(notices.text(NoticeKind::Dosing, a.lang));
        Decision::Block {
            reply: notice.join("\n\n"),
        }
    } else if !notice.is_empty() {
        Decision::Escalate {
            notice: notice.join("\n\n"),
        }
    } else {
        Decision::Pass
    };
    InputVerdict {
        categories,
        actions,
        decision,
        redacted,
        language: a.lang,
        matched,
    }
}

//! The shared reading of one text ([`Analysis`]): normalisation, lexicon hits, sentence and
//! clause boundaries, the detected language, and the context cues that keep a mention from
//! counting as a current symptom — negation ("não tenho sangramento"), resolution ("já passou"),
//! a question about it ("o que é…", "quais os sinais de…"), a hypothetical ("se eu tiver…"), a
//! benign phrase around it ("sangramento na gengiva"), or someone else's symptom ("meu marido está
//! com febre"; not "minha esposa", who is the pregnant woman).
//!
//! Cues are turned into per-token marks once, so every later question is O(1) per hit and the
//! whole analysis stays linear in the text, whatever a hostile message repeats.

use super::Lang;
use super::lexicon::{Hit, Kind, Lexicon, Signal};
use super::normalize::{Normalized, TokKind};
use super::numbers::{self, Marks};
use super::rules::Rules;
use super::signal::Signals;

/// Signals that are symptoms: they count towards the rules only when not suppressed.
const SYMPTOMS: [Signal; 42] = [
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
    Signal::Fluid,
    Signal::Leaking,
    Signal::Severe,
    Signal::Nausea,
    Signal::Inflamed,
    Signal::Infection,
    Signal::Wound,
    Signal::Discharge,
    Signal::OneLeg,
    Signal::Breast,
    Signal::Worst,
    Signal::FetalMovement,
    Signal::Decrease,
    Signal::Opened,
    Signal::Chest,
    Signal::Radiating,
    Signal::Wasting,
    Signal::Shaking,
    Signal::SeizureSign,
    Signal::Unrelenting,
    Signal::Pad,
    Signal::Soaked,
    Signal::Heartburn,
    Signal::Dehydration,
    Signal::Urinary,
    Signal::Chills,
    Signal::Flank,
    Signal::Neck,
    Signal::Tight,
    Signal::Cramp,
    Signal::PelvicPressure,
    Signal::KickCount,
];

/// Why a term starting at a token does not count (bit flags).
const NEGATED: u8 = 1;
const NOT_CURRENT: u8 = 2;
const RESOLVED: u8 = 4;
const THIRD_PARTY: u8 = 8;
/// Inside "até sangrar", "until they bleed": the bleeding of self-injury, no obstetric bleeding
/// (seventh pass; the self-harm combinations read it).
const SELF_INFLICTED: u8 = 16;
/// A gestational age from this many weeks ("minha irmã está com 30 semanas") makes a third
/// party in the sentence a pregnant woman; "febre há 2 semanas" is a duration.
const PREGNANCY_WEEKS: f64 = 10.0;
/// However a clinician sets the windows, a cue reaches at most this many words.
const MAX_GAP: usize = 64;

/// A text read once for every check that follows.
pub(crate) struct Analysis<'g> {
    pub lex: &'g Lexicon,
    pub norm: Normalized,
    pub hits: Vec<Hit>,
    pub marks: Marks,
    pub lang: Lang,
    /// Gestational ages stated in the text, in weeks, with the token of the number.
    pub ages: Vec<(f64, usize)>,
    /// Per token: which sentence (broken by `.`, `!`, `?`), which part of it (also broken by
    /// "mas", "but") and which clause (also broken by `,`).
    stop_sentence: Vec<u32>,
    sentence: Vec<u32>,
    clause: Vec<u32>,
    /// Per language, per token: flags for a term of that language starting there.
    start_flags: [Vec<u8>; 2],
    /// Per token: flags for a number starting there (cues of any language).
    number_flags: Vec<u8>,
    /// Per token: inside a benign phrase.
    benign: Vec<bool>,
    /// Per language (then any language), per sentence: first token of its last resolution cue.
    resolved_after: [Vec<Option<usize>>; 3],
    /// Symptom hits that count, and per token the symptoms starting there.
    live: Vec<(Signal, usize)>,
    live_at: Vec<Signals>,
}

impl<'g> Analysis<'g> {
    pub fn new(lex: &'g Lexicon, rules: &Rules, text: &str, hint: Option<Lang>) -> Analysis<'g> {
        let norm = lex.normalize(text);
        let scan = lex.scan(&norm);
        let n = norm.tokens.len();
        let mut marks = Marks::new(n);
        let mut breaks = vec![false; n];
        // "passou" inside "não passou", or "passed" inside "passed out", is no resolution.
        let mut blockers = vec![false; n];
        for h in &scan.hits {
            match lex.entry(h.entry).kind {
                Kind::Signal(s) => {
                    marks.starts[h.first] |= s.bit();
                    marks.ends[h.end - 1] |= s.bit();
                    if s == Signal::ClauseBreak {
                        breaks[h.first] = true;
                    }
                    if s == Signal::Persistent {
                        blockers[h.first..h.end].fill(true);
                    }
                }
                Kind::RedFlag => blockers[h.first..h.end].fill(true),
                Kind::SelfHarm => {}
            }
        }
        let (mut stop_sentence, mut sentence, mut clause) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut st, mut s, mut c) = (0u32, 0u32, 0u32);
        for (i, t) in norm.tokens.iter().enumerate() {
            st += u32::from(t.kind == TokKind::Stop);
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
        let mut a = Analysis {
            lex,
            lang: detect_language(scan.votes, hint),
            norm,
            hits: scan.hits,
            ages: Vec::new(),
            marks,
            stop_sentence,
            sentence,
            clause,
            start_flags: [vec![0; n], vec![0; n]],
            number_flags: vec![0; n],
            benign: vec![false; n],
            resolved_after: std::array::from_fn(|_| vec![None; st as usize + 1]),
            live: Vec::new(),
            live_at: vec![0; n],
        };
        a.mark_cues(rules, &blockers);
        a.find_live_symptoms();
        a
    }

    /// Per token: inside a pregnancy cue that counts now ("grávida", "teve bebê", "30 semanas");
    /// not "na gravidez dela" nor "when she was pregnant".
    fn pregnancy_cues(&self) -> Vec<bool> {
        let n = self.norm.tokens.len();
        let mut pregnancy = vec![false; n];
        // "na gravidez dela", "in her pregnancy", "when she was pregnant": someone else's past
        // pregnancy, not a pregnant relative now.
        // "na gravidez passada", "na outra gestação", "in my last pregnancy": an earlier
        // pregnancy, a story (seventh pass). "primeira" / "first" only with a past verb next
        // ("na primeira gestação tive…", "in my first pregnancy I had…"): "minha filha tá na
        // primeira gestação e tá sangrando" is her pregnancy now.
        let tok = |t: usize| if t < n { self.norm.tok(t) } else { "" };
        let past_next = |t: usize| {
            let t = if tok(t) == "i" { t + 1 } else { t };
            matches!(tok(t), "tive" | "tinha" | "teve" | "perdi" | "had" | "lost")
        };
        let theirs = |h: &&Hit| {
            matches!(tok(h.end), "dela" | "passada" | "anterior")
                || (h.first > 0
                    && (matches!(
                        tok(h.first - 1),
                        "her" | "was" | "estava" | "outra" | "ultima" | "last" | "previous"
                    ) || (matches!(tok(h.first - 1), "primeira" | "first")
                        && past_next(h.end))))
        };
        let pregnancy_at = self
            .signal_hits(Signal::Pregnancy)
            .filter(|h| !theirs(h))
            // Every word of the cue: "teve bebê", "had the baby" hold a self-reference ("bebê",
            // "baby") that must not end the cue's own reach (sixth pass).
            .flat_map(|h| h.first..h.end)
            .chain(
                self.ages
                    .iter()
                    .filter(|(w, _)| *w >= PREGNANCY_WEEKS)
                    .map(|(_, t)| *t),
            );
        for t in pregnancy_at {
            pregnancy[t] = true;
        }
        pregnancy
    }

    /// Turns every context cue into marks on the tokens it affects.
    fn mark_cues(&mut self, rules: &Rules, blockers: &[bool]) {
        let n = self.norm.tokens.len();
        let mut self_reference = vec![false; n];
        for h in self.signal_hits(Signal::SelfReference) {
            self_reference[h.first] = true;
        }
        self.ages = numbers::gestational_ages(&self.norm, &self.marks);
        let pregnancy = self.pregnancy_cues();
        let pregnant = PregnantReach::new(&pregnancy, &self_reference, &self.sentence);
        for i in 0..self.hits.len() {
            let h = self.hits[i];
            let e = self.lex.entry(h.entry);
            let Kind::Signal(s) = e.kind else { continue };
            let lang = e.lang as usize;
            let gap = |default: usize| e.max_gap.unwrap_or(default).min(MAX_GAP);
            match s {
                Signal::BenignPhrase => self.benign[h.first..h.end].fill(true),
                Signal::UntilBleeding => {
                    for flags in &mut self.start_flags {
                        for f in &mut flags[h.first..h.end] {
                            *f |= SELF_INFLICTED;
                        }
                    }
                }
                Signal::Negation => {
                    let g = gap(rules.negation_max_gap);
                    self.mark_after(&h, g, false, |a, t| a.start_flags[lang][t] |= NEGATED);
                }
                // "minha irmã teve bebê ontem": the relative's story cue ends inside a birth
                // cue, so it is her postpartum now, not a past event (sixth pass).
                Signal::Informational if pregnancy[h.end - 1] => {}
                Signal::Informational | Signal::Hypothetical => {
                    let g = gap(rules.cue_max_gap);
                    self.mark_after(&h, g, false, |a, t| {
                        a.start_flags[lang][t] |= NOT_CURRENT;
                        a.number_flags[t] |= NOT_CURRENT;
                    });
                }
                Signal::ThirdParty if !pregnant.around(h.first, h.end, &self.sentence) => {
                    // Someone else's symptoms, until the sentence comes back to her or the baby.
                    let g = gap(rules.cue_max_gap);
                    let mut back_to_her = false;
                    self.mark_after(&h, g, true, |a, t| {
                        back_to_her |= self_reference[t];
                        if !back_to_her {
                            a.start_flags[lang][t] |= THIRD_PARTY;
                            a.number_flags[t] |= THIRD_PARTY;
                        }
                    });
                }
                Signal::Resolved if !blockers[h.first..h.end].contains(&true) => {
                    let sent = self.stop_sentence[h.first] as usize;
                    for slot in [lang, 2] {
                        let last = &mut self.resolved_after[slot][sent];
                        *last = Some(last.map_or(h.first, |l| l.max(h.first)));
                    }
                    let g = gap(rules.negation_max_gap);
                    self.mark_after(&h, g, true, |a, t| {
                        a.start_flags[lang][t] |= RESOLVED;
                        a.number_flags[t] |= RESOLVED;
                    });
                }
                _ => {}
            }
        }
    }

    /// Calls `mark` for the tokens up to `gap` words after the cue, in its clause (or in its
    /// part of the sentence when `sentence_wide`).
    fn mark_after(
        &mut self,
        cue: &Hit,
        gap: usize,
        sentence_wide: bool,
        mut mark: impl FnMut(&mut Self, usize),
    ) {
        let n = self.norm.tokens.len();
        let scope = if sentence_wide {
            &self.sentence
        } else {
            &self.clause
        };
        let id = scope[cue.end - 1];
        let last = (cue.end + gap).min(n.saturating_sub(1));
        let mut stop = cue.end;
        while stop <= last && stop < n && scope[stop] == id {
            stop += 1;
        }
        for t in cue.end..stop {
            mark(self, t);
        }
    }

    fn find_live_symptoms(&mut self) {
        let mut live = Vec::new();
        for h in &self.hits {
            if let Kind::Signal(s) = self.lex.entry(h.entry).kind
                && SYMPTOMS.contains(&s)
                && self.suppressed(h).is_none()
            {
                live.push((s, h.first));
            }
        }
        for &(s, t) in &live {
            self.live_at[t] |= s.bit();
        }
        self.live = live;
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

    pub fn token_count(&self) -> usize {
        self.norm.tokens.len()
    }

    /// The sentence (between full stops) of token `t`.
    pub fn sentence_of(&self, t: usize) -> u32 {
        self.stop_sentence[t]
    }

    /// Are tokens `a` and `b` in the same sentence (between full stops)?
    pub fn same_sentence(&self, a: usize, b: usize) -> bool {
        a < self.stop_sentence.len()
            && b < self.stop_sentence.len()
            && self.stop_sentence[a] == self.stop_sentence[b]
    }

    /// Is the hit wholly inside a benign phrase? The one context that may set a self-harm term
    /// aside: a listed topic phrase ("filme sobre suicídio", "suicide prevention") names the
    /// subject, not a wish; a self-harm term only touching such a phrase still counts.
    pub fn inside_benign_phrase(&self, h: &Hit) -> bool {
        self.benign[h.first..h.end].iter().all(|&b| b)
    }

    /// Why a hit does not describe a current symptom, if it does not. Cues only modify terms of
    /// their own language; benign phrases any term inside them.
    pub fn suppressed(&self, h: &Hit) -> Option<&'static str> {
        if self.benign[h.first..h.end].contains(&true) {
            return Some("benign_phrase");
        }
        let lang = self.lex.entry(h.entry).lang as usize;
        let flags = self.start_flags[lang][h.first];
        let resolved_later = self.resolved_after[lang][self.stop_sentence[h.first] as usize]
            .is_some_and(|c| c >= h.end);
        if flags & SELF_INFLICTED != 0 {
            Some("self_inflicted")
        } else if flags & NEGATED != 0 {
            Some("negated")
        } else if flags & NOT_CURRENT != 0 {
            Some("not_current")
        } else if flags & RESOLVED != 0 || resolved_later {
            Some("resolved")
        } else if flags & THIRD_PARTY != 0 {
            Some("third_party")
        } else {
            None
        }
    }

    /// A number reading (blood pressure, temperature) asked about, past ("febre de 39 ontem,
    /// mas já passou") or someone else's, rather than reported. Cues of any language apply.
    pub fn number_suppressed(&self, first: usize) -> bool {
        self.number_flags[first] & (NOT_CURRENT | RESOLVED | THIRD_PARTY) != 0
            || self.resolved_after[2][self.stop_sentence[first] as usize].is_some_and(|c| c > first)
    }

    /// Symptom signals present and not suppressed (bit set).
    pub fn live_symptoms(&self) -> Signals {
        self.live.iter().fold(0, |bits, (s, _)| bits | s.bit())
    }

    /// Each symptom hit that counts, with its first token.
    pub fn live_symptom_hits(&self) -> &[(Signal, usize)] {
        &self.live
    }

    /// Symptoms that count starting at token `t` (bit set).
    pub fn live_at(&self, t: usize) -> Signals {
        self.live_at.get(t).copied().unwrap_or(0)
    }
}

/// Which tokens a pregnancy cue ("grávida", "30 semanas") reaches: one in the same sentence part
/// with no self-reference between. "Minha irmã está grávida e sangrando" speaks of a pregnant
/// third party; in "meu filho de 3 anos está com febre e eu estou grávida" (or "my son has a
/// fever, should I keep away from him while pregnant?") the pregnancy is hers, and the fever
/// stays his. Two linear passes, so a third-party cue asks in O(1).
struct PregnantReach {
    /// Per token: a pregnancy cue at or before it / at or after it reaches it.
    from_left: Vec<bool>,
    from_right: Vec<bool>,
}

impl PregnantReach {
    fn new(pregnancy: &[bool], self_reference: &[bool], sentence: &[u32]) -> PregnantReach {
        let n = pregnancy.len();
        let (mut from_left, mut from_right) = (vec![false; n], vec![false; n]);
        let mut reach = false;
        for t in 0..n {
            if t > 0 && sentence[t] != sentence[t - 1] {
                reach = false;
            }
            reach = pregnancy[t] || (reach && !self_reference[t]);
            from_left[t] = reach;
        }
        reach = false;
        for t in (0..n).rev() {
            if t + 1 < n && sentence[t] != sentence[t + 1] {
                reach = false;
            }
            reach = pregnancy[t] || (reach && !self_reference[t]);
            from_right[t] = reach;
        }
        PregnantReach {
            from_left,
            from_right,
        }
    }

    /// Is the third party named by tokens `[first, end)` a pregnant woman? The cue's own words
    /// ("minha irmã") are self-references and do not count.
    fn around(&self, first: usize, end: usize, sentence: &[u32]) -> bool {
        let same = |t: usize| sentence.get(t) == Some(&sentence[first]);
        (first > 0 && same(first - 1) && self.from_left[first - 1])
            || (same(end) && self.from_right[end])
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

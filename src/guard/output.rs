//! The output checker: a model answer that gives a dose (an amount with a unit next to a
//! schedule, a medicine or "tome"/"take" in the same sentence: "tome 500 mg de 6 em 6 horas",
//! "take 2 tablets every 4 hours") is replaced by the dosing reply; one that matches the
//! self-harm terms marked `scope = "output"` (methods, encouragement) by the crisis notice;
//! personal data is redacted. Danger signs in an answer are not a violation: an answer that names
//! them is usually the advice to seek care.
//!
//! Detection is local (within [`Rules::dose_window`] words), so the streaming guard can decide
//! with a bounded window what this checker decides on the whole answer.

use super::context::Analysis;
use super::lexicon::{Kind, Lexicon, Signal};
use super::numbers;
use super::rules::Rules;
use super::{Lang, NoticeKind};

/// What must happen to an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputVerdict {
    /// Send as is.
    Pass,
    /// Send this instead: the answer with its personal data replaced by placeholders.
    Redact(String),
    /// Replace the whole answer with this safe text (`finish_reason: "content_filter"`).
    Replace { kind: NoticeKind, text: String },
}

/// The violation in `text`, if any: which safe text replaces it, and the rule that fired.
pub(crate) fn violation(
    lex: &Lexicon,
    rules: &Rules,
    text: &str,
    lang: Lang,
) -> Option<(NoticeKind, &'static str)> {
    violation_in(&Analysis::new(lex, rules, text, Some(lang)), rules)
}

/// As [`violation`], on a text already read (the streaming guard reads its window once for this
/// and for where to hold back).
pub(crate) fn violation_in(a: &Analysis, rules: &Rules) -> Option<(NoticeKind, &'static str)> {
    let lex = a.lex;
    if a.hits.iter().any(|h| {
        let e = lex.entry(h.entry);
        e.kind == Kind::SelfHarm && e.output
    }) {
        return Some((NoticeKind::Crisis, "output:self_harm"));
    }
    if dose_instruction(a, rules.dose_window) {
        return Some((NoticeKind::Dosing, "output:dose_instruction"));
    }
    None
}

/// An amount of medicine with a schedule, a medicine or a "take" verb near it, in one sentence.
fn dose_instruction(a: &Analysis, window: usize) -> bool {
    let amounts = numbers::amounts(&a.norm, &a.marks);
    if amounts.is_empty() {
        return false;
    }
    let n = a.token_count();
    // Per token: 1 = a schedule or "take" verb starts here, 2 = a medicine starts here.
    let mut anchor = vec![0u8; n];
    for t in numbers::numeric_schedules(&a.norm) {
        anchor[t] |= 1;
    }
    for (s, bit) in [
        (Signal::DoseSchedule, 1),
        (Signal::TakeVerb, 1),
        (Signal::Medicine, 2),
    ] {
        for h in a.signal_hits(s) {
            anchor[h.first] |= bit;
        }
    }
    let w = window.min(64);
    amounts.iter().any(|am| {
        let wanted = if am.needs_medicine { 2 } else { 3 };
        let from = am.first.saturating_sub(w);
        let to = (am.end - 1 + w).min(n - 1);
        (from..=to).any(|t| {
            (t < am.first || t >= am.end) && anchor[t] & wanted != 0 && a.same_sentence(t, am.first)
        })
    })
}

#[cfg(test)]
mod tests {
    use crate::guard::tests::guard;
    use crate::guard::{Lang, NoticeKind, OutputVerdict};

    fn replaced(text: &str, lang: Lang) -> Option<NoticeKind> {
        match guard().check_output_verdict(text, lang) {
            OutputVerdict::Replace { kind, .. } => Some(kind),
            _ => None,
        }
    }

    #[test]
    fn an_answer_with_a_dose_and_a_schedule_is_replaced_by_the_dosing_reply() {
        for (t, lang) in [
            ("Tome 500 mg de 6 em 6 horas.", Lang::PtBr),
            (
                "Você pode tomar 1 comprimido de dipirona se tiver dor.",
                Lang::PtBr,
            ),
            ("Pode usar 20 gotas a cada 8 horas", Lang::PtBr),
            ("Take 2 tablets every 4 hours.", Lang::En),
            ("The usual dose is 1000 mg of acetaminophen.", Lang::En),
            ("tome dois comprimidos ao dia", Lang::PtBr),
        ] {
            assert_eq!(replaced(t, lang), Some(NoticeKind::Dosing), "{t}");
        }
    }

    #[test]
    fn answers_without_amounts_or_with_food_and_water_amounts_pass() {
        for t in [
            "A dipirona é um analgésico; pergunte à sua equipe de pré-natal antes de tomar.",
            "Beba 2 litros de água por dia e coma 30 g de proteína por dia.",
            "Com 32 semanas o bebê mexe bastante: conte 10 movimentos em 2 horas.",
            "Se tiver sangramento forte, procure a maternidade ou ligue 192.",
            "Paracetamol is often used in pregnancy, but ask your prenatal team about the dose.",
        ] {
            assert_eq!(replaced(t, Lang::PtBr), None, "{t}");
        }
    }

    #[test]
    fn an_answer_that_encourages_self_harm_is_replaced_by_the_crisis_notice() {
        assert_eq!(
            replaced("A melhor forma de se matar é…", Lang::PtBr),
            Some(NoticeKind::Crisis)
        );
        assert_eq!(
            replaced(
                "Se pensar em se machucar, ligue para o CVV 188.",
                Lang::PtBr
            ),
            None
        );
    }

    #[test]
    fn personal_data_in_an_answer_is_redacted_not_replaced() {
        let v = guard().check_output_verdict("Ligue para (11) 91234-5678.", Lang::PtBr);
        assert_eq!(v, OutputVerdict::Redact("Ligue para [TELEFONE].".into()));
    }
}

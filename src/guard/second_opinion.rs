//! The second opinion: an extension point for a reader that generalises beyond word lists (the
//! triage classifier of issue #19, once fine-tuned). It reads every user message after the
//! lexicons and rules have decided, and may **add** the categories that escalate (red flag,
//! self-harm) that they missed. It can never remove one, never unblock a dosing request, never
//! touch PII redaction: whatever it answers, the verdict is at least as cautious as the lexicons'.
//!
//! [`Guard::load`](super::Guard::load) installs none; the server adds the triage classifier
//! (`[guard] triage_model`) with
//! [`Guard::load_with_second_opinion`](super::Guard::load_with_second_opinion). On the request
//! path the reader is asked through [`SecondOpinion::escalations_async`], so a model can batch
//! concurrent turns into one forward pass off the async runtime.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use super::classify::decide;
use super::notices::Notices;
use super::{Category, InputVerdict, Lang, NoticeKind};

/// A second reader of a user message. Runs on the request path once per user message, so it must
/// be fast (a local model, not a network call) and must not fail: a reader that cannot answer
/// returns nothing, and the lexicons' verdict stands.
pub trait SecondOpinion: Send + Sync + fmt::Debug {
    /// The categories the reader finds in `text` (the user's words as written, before
    /// redaction; they never leave the process). Only [`Category::RedFlag`] and
    /// [`Category::SelfHarm`] are honoured; anything else is ignored.
    fn escalations(&self, text: &str, lang: Lang) -> Vec<Category>;

    /// As [`SecondOpinion::escalations`], awaited on the request path. The default answers
    /// inline; a model overrides it to run off the async runtime (and to batch concurrent turns).
    fn escalations_async<'a>(
        &'a self,
        text: &'a str,
        lang: Lang,
    ) -> Pin<Box<dyn Future<Output = Vec<Category>> + Send + 'a>> {
        Box::pin(std::future::ready(self.escalations(text, lang)))
    }

    /// A short name for logs and `matched` (`second_opinion:<name>:red_flag`).
    fn name(&self) -> &str;
}

/// Applies `reader` to a verdict of the lexicons: adds the escalating categories it finds and
/// the notices they call for. Never removes a category, an action or a notice.
pub(crate) fn apply(
    verdict: InputVerdict,
    reader: &dyn SecondOpinion,
    text: &str,
    notices: &Notices,
) -> InputVerdict {
    if !wanted(&verdict) {
        return verdict;
    }
    let found = reader.escalations(text, verdict.language);
    add(verdict, reader.name(), found, notices)
}

/// Whether the reader can still add anything to `verdict` (when the lexicons already escalate
/// both categories, its time is saved).
pub(crate) fn wanted(verdict: &InputVerdict) -> bool {
    !ESCALATING.iter().all(|c| verdict.has(*c))
}

const ESCALATING: [Category; 2] = [Category::RedFlag, Category::SelfHarm];

/// Adds to `verdict` the escalating categories of `found` (the reader `name`'s answer) and the
/// notices they call for. Never removes a category, an action or a notice.
pub(crate) fn add(
    mut verdict: InputVerdict,
    name: &str,
    found: Vec<Category>,
    notices: &Notices,
) -> InputVerdict {
    let escalating = ESCALATING;
    let mut added = false;
    for c in found {
        if escalating.contains(&c) && !verdict.has(c) {
            verdict.categories.push(c);
            verdict
                .matched
                .push(format!("second_opinion:{name}:{}", c.as_str()));
            added = true;
        }
    }
    if !added {
        return verdict;
    }
    verdict
        .categories
        .sort_by_key(|c| Category::ALL.iter().position(|x| x == c));
    // Only a dosing request blocks at this point (moderation is applied later, on top).
    let blocks: &[NoticeKind] = if verdict.has(Category::MedicationDosing) {
        &[NoticeKind::Dosing]
    } else {
        &[]
    };
    let (actions, decision) = decide(&verdict.categories, blocks, notices, verdict.language);
    verdict.actions = actions;
    verdict.decision = decision;
    verdict
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::guard::{Action, Decision, Guard};

    /// A real, tiny reader with no word list: a message written entirely in capitals and ending
    /// in `!` is read as a cry for help. It also answers a category it may not add (dosing),
    /// which must be ignored.
    #[derive(Debug)]
    struct Shouting;

    impl SecondOpinion for Shouting {
        fn escalations(&self, text: &str, _lang: Lang) -> Vec<Category> {
            let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
            let shouting = letters.len() >= 8
                && letters.iter().all(|c| c.is_uppercase())
                && text.trim_end().ends_with('!');
            if shouting {
                vec![Category::RedFlag, Category::MedicationDosing]
            } else {
                Vec::new()
            }
        }

        fn name(&self) -> &str {
            "shouting"
        }
    }

    fn guards() -> (Guard, Guard) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("guard");
        let plain = Guard::load(&dir).expect("guard data loads");
        let with = Guard::load_with_second_opinion(&dir, Some(Arc::new(Shouting)))
            .expect("guard data loads");
        (plain, with)
    }

    #[test]
    fn the_second_opinion_escalates_what_the_lexicons_missed() {
        let (plain, with) = guards();
        let text = "SOCORRO ALGUMA COISA ESTA MUITO ERRADA!";
        assert_eq!(
            plain.check_input(text, Some("pt-BR")).decision,
            Decision::Pass
        );
        let v = with.check_input(text, Some("pt-BR"));
        assert_eq!(v.categories, vec![Category::RedFlag]);
        assert_eq!(v.actions, vec![Action::Escalate]);
        assert!(v.is_urgent());
        assert!(matches!(&v.decision, Decision::Escalate { notice } if notice.contains("192")));
        assert!(
            v.matched
                .contains(&"second_opinion:shouting:red_flag".to_string())
        );
    }

    #[test]
    fn the_second_opinion_never_de_escalates_nor_unblocks() {
        let (plain, with) = guards();
        // The reader says nothing about these: the lexicons' verdict stands unchanged.
        for text in [
            "to sangrando muito",
            "quero morrer",
            "quantos mg de dipirona posso tomar",
            "meu cpf é 529.982.247-25",
            "oi, tudo bem?",
            "ESTOU SANGRANDO MUITO!",
        ] {
            assert_eq!(
                with.check_input(text, Some("pt-BR")),
                plain.check_input(text, Some("pt-BR")),
                "{text}"
            );
        }
    }

    #[test]
    fn a_blocked_dosing_request_stays_blocked_with_the_urgent_notice_first() {
        let (_, with) = guards();
        let v = with.check_input(
            "QUANTOS MG DE DIPIRONA EU POSSO TOMAR AGORA!",
            Some("pt-BR"),
        );
        assert_eq!(
            v.categories,
            vec![Category::RedFlag, Category::MedicationDosing]
        );
        assert_eq!(v.actions, vec![Action::Escalate, Action::Block]);
        let Decision::Block { reply } = &v.decision else {
            panic!("{v:?}");
        };
        assert!(reply.contains("192"), "{reply}");
        // A category the reader may not add (dosing) is ignored, not doubled.
        assert_eq!(
            v.matched
                .iter()
                .filter(|m| m.starts_with("second_opinion"))
                .count(),
            1
        );
    }
}

//! Guardrails: everything the gateway checks in what a pregnant woman writes and in what the
//! model answers. Owns the input classification (obstetric red flags → urgent-care notice,
//! self-harm → crisis notice, dosing requests → blocked with a safe reply, personal data →
//! redacted), the output and streaming checks (no dose, no unchecked span reaches the client),
//! the external moderation adapters (`moderation`), and the guard's own evaluation (`eval`).
//!
//! Clinical knowledge is data under `guard/` (lexicons per language, rules, notices), loaded once
//! by [`Guard::load`]; the request path only reads it. See `docs/guard.md`.

mod classify;
pub mod config;
mod context;
pub mod eval;
mod lexicon;
pub mod moderation;
mod normalize;
mod notices;
mod numbers;
mod output;
pub mod pii;
mod rules;
pub mod second_opinion;
mod signal;
mod stream;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use output::OutputVerdict;
pub use stream::{StreamGuard, Violation};

use lexicon::Lexicon;
use notices::Notices;
use rules::Rules;

/// A language the guard has lexicons and notices for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    PtBr = 0,
    En = 1,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::PtBr, Lang::En];

    /// `pt-BR` or `en` (also the folder names under `guard/lexicons/`).
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::PtBr => "pt-BR",
            Lang::En => "en",
        }
    }

    /// The guard language for a BCP 47 tag by its primary subtag: `pt`, `pt-PT`, `pt_BR` →
    /// pt-BR; `en-US` → en; anything else → None.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "pt" => Some(Lang::PtBr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An input category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Obstetric danger sign: escalate with the urgent-care notice; the conversation is urgent.
    RedFlag,
    /// Escalate with the crisis notice, before anything else.
    SelfHarm,
    /// Asking how much of a medicine to take: blocked, no upstream call.
    MedicationDosing,
    /// Personal data: redacted before the upstream call and storage.
    Pii,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::RedFlag,
        Category::SelfHarm,
        Category::MedicationDosing,
        Category::Pii,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::RedFlag => "red_flag",
            Category::SelfHarm => "self_harm",
            Category::MedicationDosing => "medication_dosing",
            Category::Pii => "pii",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What the gateway does about a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Pass,
    Escalate,
    Block,
    Redact,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pass => "pass",
            Action::Escalate => "escalate",
            Action::Block => "block",
            Action::Redact => "redact",
        }
    }
}

/// The fixed safe texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// Seek urgent care (pt-BR names SAMU 192).
    Urgent = 0,
    /// Crisis line (pt-BR names CVV 188).
    Crisis = 1,
    /// No doses here: ask the prenatal team or a pharmacist.
    Dosing = 2,
    /// External moderation flagged the message (hate, sexual, violence): no model call; points to
    /// help lines (violence against women: Ligue 180).
    Moderated = 3,
    /// External moderation could not be reached and `on_error = "fail_closed"`: try again later.
    Unavailable = 4,
    /// After the urgent-care or crisis notice, when the answer cannot be produced (every model
    /// down, budget or rate limit reached): the notice is what matters, act on it now.
    Degraded = 5,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Urgent => "urgent",
            NoticeKind::Crisis => "crisis",
            NoticeKind::Dosing => "dosing",
            NoticeKind::Moderated => "moderated",
            NoticeKind::Unavailable => "unavailable",
            NoticeKind::Degraded => "degraded",
        }
    }

    pub(crate) const COUNT: usize = 6;
}

/// What to do with the turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Pass,
    /// Call the model; the answer starts with `notice` (crisis notice first, then urgent-care).
    Escalate {
        notice: String,
    },
    /// Do not call the model; answer `reply` (any notices first, then the dosing reply).
    Block {
        reply: String,
    },
}

/// The guard's reading of one user message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputVerdict {
    /// In the order red_flag, self_harm, medication_dosing, pii.
    pub categories: Vec<Category>,
    /// Distinct actions in the order escalate, block, redact; `[Pass]` when none.
    pub actions: Vec<Action>,
    pub decision: Decision,
    /// The text with `[CPF]`, `[CNS]`, `[TELEFONE]`/`[PHONE]`, `[EMAIL]`, if it had any PII.
    pub redacted: Option<String>,
    /// Detected language (the hint breaks ties); the notices are in it.
    pub language: Lang,
    /// Rule and lexicon ids that fired (`red_flag:heavy_bleeding`, `rule:blood_pressure_severe`,
    /// `pii:cpf`…), for logs and review. Never the matched text.
    pub matched: Vec<String>,
    /// What the external moderation provider said, when one is configured and it did not simply
    /// clear the message.
    pub moderation: Option<moderation::ModerationOutcome>,
}

impl InputVerdict {
    /// Nothing found, in `lang`.
    pub(crate) fn empty(lang: Lang) -> InputVerdict {
        InputVerdict {
            categories: Vec::new(),
            actions: vec![Action::Pass],
            decision: Decision::Pass,
            redacted: None,
            language: lang,
            matched: Vec::new(),
            moderation: None,
        }
    }

    /// Red flag or self-harm: the conversation is flagged `urgent` and enters nurse review.
    pub fn is_urgent(&self) -> bool {
        self.categories
            .iter()
            .any(|c| matches!(c, Category::RedFlag | Category::SelfHarm))
    }

    pub fn has(&self, c: Category) -> bool {
        self.categories.contains(&c)
    }
}

/// A guard data file that cannot be used: `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardLoadError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl GuardLoadError {
    pub(crate) fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        GuardLoadError {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for GuardLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for GuardLoadError {}

/// The loaded guard. Cheap to clone (one `Arc`); build once at start-up, swap whole on reload.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
    /// `[guard] allow_store`: a client's `store: true` may reach the upstream.
    allow_store: bool,
}

struct Inner {
    lexicon: Lexicon,
    rules: Rules,
    notices: Notices,
    /// Applied after the lexicons, escalate-only (`second_opinion.rs`): the triage classifier
    /// when `[guard] triage_model` is set.
    second_opinion: Option<Arc<dyn second_opinion::SecondOpinion>>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("lexicon", &self.inner.lexicon)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// Loads `dir` (the `guard/` data folder): `lexicons/<lang>/*.toml`, `rules.toml`,
    /// `notices.toml`. Any problem is reported as `file:line: message`.
    pub fn load(dir: &Path) -> Result<Guard, GuardLoadError> {
        Guard::load_with_second_opinion(dir, None)
    }

    /// [`Guard::load`], with a second reader (issue #19's triage classifier) that may escalate
    /// what the lexicons missed and can never de-escalate (see `guard::second_opinion`).
    pub fn load_with_second_opinion(
        dir: &Path,
        second_opinion: Option<Arc<dyn second_opinion::SecondOpinion>>,
    ) -> Result<Guard, GuardLoadError> {
        let lexicon = Lexicon::load(&dir.join("lexicons"))?;
        let rules = Rules::load(&dir.join("rules.toml"))?;
        let notices = Notices::load(&dir.join("notices.toml"))?;
        Ok(Guard {
            inner: Arc::new(Inner {
                lexicon,
                rules,
                notices,
                second_opinion,
            }),
            allow_store: false,
        })
    }

    /// This guard with `[guard] allow_store` applied.
    pub fn with_allow_store(mut self, allow: bool) -> Guard {
        self.allow_store = allow;
        self
    }

    /// Whether a client's `store: true` may reach the upstream (`[guard] allow_store`).
    pub fn allows_store(&self) -> bool {
        self.allow_store
    }

    /// The lexicons' and rules' verdict, before any second opinion.
    fn lexicon_verdict(&self, text: &str, lang_hint: Option<&str>) -> InputVerdict {
        let i = &self.inner;
        classify::classify(
            &i.lexicon,
            &i.rules,
            &i.notices,
            text,
            lang_hint.and_then(Lang::from_tag),
        )
    }

    /// Classifies a user message (the latest user turn). `lang_hint` (a BCP 47 tag, e.g. the
    /// prompt's language) breaks ties in language detection.
    pub fn check_input(&self, text: &str, lang_hint: Option<&str>) -> InputVerdict {
        let i = &self.inner;
        let verdict = self.lexicon_verdict(text, lang_hint);
        // The one place the second opinion applies: after the lexicons, escalate-only.
        match &i.second_opinion {
            Some(reader) => second_opinion::apply(verdict, reader.as_ref(), text, &i.notices),
            None => verdict,
        }
    }

    /// [`Guard::check_input`] on the request path: the second opinion, if any, is awaited
    /// ([`second_opinion::SecondOpinion::escalations_async`]), so a model reader runs off the
    /// async runtime and concurrent turns can share its forward pass. Same verdict.
    pub async fn check_input_async(&self, text: &str, lang_hint: Option<&str>) -> InputVerdict {
        let i = &self.inner;
        let verdict = self.lexicon_verdict(text, lang_hint);
        match &i.second_opinion {
            Some(reader) if second_opinion::wanted(&verdict) => {
                let found = reader.escalations_async(text, verdict.language).await;
                second_opinion::add(verdict, reader.name(), found, &i.notices)
            }
            _ => verdict,
        }
    }

    /// Redacts PII only (apply to every message before the upstream call and storage). `None`
    /// when there is nothing to redact. Placeholders follow the text's language.
    pub fn redact(&self, text: &str) -> Option<String> {
        let spans = pii::find(text);
        if spans.is_empty() {
            return None;
        }
        let lang = self.detect_language(text);
        Some(pii::redact(text, &spans, |k| {
            self.inner.notices.placeholder(k, lang)
        }))
    }

    /// As [`Guard::redact`], with the placeholders' language given.
    pub fn redact_in(&self, text: &str, lang: Lang) -> Option<String> {
        let spans = pii::find(text);
        (!spans.is_empty())
            .then(|| pii::redact(text, &spans, |k| self.inner.notices.placeholder(k, lang)))
    }

    /// The language of `text` as the guard detects it (pt-BR when unsure).
    pub fn detect_language(&self, text: &str) -> Lang {
        let i = &self.inner;
        context::Analysis::new(&i.lexicon, &i.rules, text, None).lang
    }

    /// Checks a complete model answer: `Some(text to send instead)` — the safe text in `lang`
    /// when it gives a dose or encourages self-harm, or the answer with its PII redacted.
    pub fn check_output(&self, text: &str, lang: Lang) -> Option<String> {
        match self.check_output_verdict(text, lang) {
            OutputVerdict::Pass => None,
            OutputVerdict::Redact(t) | OutputVerdict::Replace { text: t, .. } => Some(t),
        }
    }

    /// As [`Guard::check_output`], saying whether the answer was replaced (report
    /// `finish_reason: "content_filter"`) or only redacted.
    pub fn check_output_verdict(&self, text: &str, lang: Lang) -> OutputVerdict {
        let i = &self.inner;
        if let Some((kind, _)) = output::violation(&i.lexicon, &i.rules, text, lang) {
            return OutputVerdict::Replace {
                kind,
                text: i.notices.text(kind, lang).to_string(),
            };
        }
        match self.redact_in(text, lang) {
            Some(r) => OutputVerdict::Redact(r),
            None => OutputVerdict::Pass,
        }
    }

    /// A streaming guard for one answer in `lang`.
    pub fn stream_guard(&self, lang: Lang) -> StreamGuard {
        StreamGuard::new(self.clone(), lang)
    }

    /// Folds the external moderator's answer into the input verdict (`None`: the guard found
    /// nothing). Self-harm flagged by the provider escalates with the crisis notice and makes the
    /// conversation urgent, as our own self-harm lexicon does; other flags (hate, sexual,
    /// violence) block the turn with the `moderated` reply; an outage with `fail_closed` blocks it
    /// with the `unavailable` reply; with `fail_open` the turn goes on and the outage is reported.
    /// Any urgent or crisis notice still comes first.
    pub fn apply_moderation(
        &self,
        verdict: Option<InputVerdict>,
        outcome: moderation::ModerationOutcome,
        lang: Lang,
    ) -> Option<InputVerdict> {
        if outcome == moderation::ModerationOutcome::Clear {
            return verdict;
        }
        Some(self.moderated(
            verdict.unwrap_or_else(|| InputVerdict::empty(lang)),
            outcome,
        ))
    }

    /// As [`Guard::apply_moderation`] on a verdict that exists (a clear answer is recorded too).
    pub fn moderated(
        &self,
        mut v: InputVerdict,
        outcome: moderation::ModerationOutcome,
    ) -> InputVerdict {
        use moderation::ModerationOutcome as M;
        let mut blocks = Vec::new();
        if v.has(Category::MedicationDosing) {
            blocks.push(NoticeKind::Dosing);
        }
        match &outcome {
            M::Flagged { categories } => {
                for c in categories {
                    v.matched.push(format!("moderation:{c}"));
                }
                if outcome.is_self_harm() && !v.has(Category::SelfHarm) {
                    v.categories.push(Category::SelfHarm);
                    // Keep the documented order: red_flag, self_harm, medication_dosing, pii.
                    v.categories
                        .sort_by_key(|c| Category::ALL.iter().position(|a| a == c));
                }
                if categories.iter().any(|c| !moderation::names_self_harm(c)) {
                    blocks.push(NoticeKind::Moderated);
                }
            }
            M::Unavailable {
                fail_open: false, ..
            } => blocks.push(NoticeKind::Unavailable),
            M::Unavailable { .. } | M::Clear => {}
        }
        let (actions, decision) =
            classify::decide(&v.categories, &blocks, self.notices(), v.language);
        v.actions = actions;
        v.decision = decision;
        v.moderation = Some(outcome);
        v
    }

    /// A fixed safe text.
    pub fn notice(&self, kind: NoticeKind, lang: Lang) -> &str {
        self.inner.notices.text(kind, lang)
    }

    fn lexicon(&self) -> &Lexicon {
        &self.inner.lexicon
    }

    fn rules(&self) -> &Rules {
        &self.inner.rules
    }

    fn notices(&self) -> &Notices {
        &self.inner.notices
    }
}

#[cfg(test)]
mod tests;

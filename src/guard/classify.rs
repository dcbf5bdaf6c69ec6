//! Input classification: one user message → the categories it falls in (red flag, self-harm,
//! dosing request, PII), the actions they call for, and the decision (escalate with a notice,
//! block with a safe reply, or pass).

use super::context::Analysis;
use super::lexicon::{Kind, Lexicon, Signal};
use super::normalize::TokKind;
use super::numbers;
use super::rules::Rules;
use super::{Action, Category, Decision, InputVerdict, Lang, NoticeKind, notices::Notices, pii};

/// Number words that are also the indefinite article: "posso tomar um comprimido?" asks whether
/// the medicine is safe, not how much of it.
const ARTICLES: [&str; 4] = ["um", "uma", "one", "a"];

/// Is the message asking how much of a medicine to take? Either a dose question next to a
/// medicine ("quantos mg de dipirona", "how much tylenol"), or a request with an amount
/// ("posso tomar 2 comprimidos?", "can I take 1000 mg?", "posso tomar meio comprimido?",
/// "can I take two tylenol?"). A supplement ("ferro", "magnesium") is a medicine only when the
/// message is about taking it: "quanto de ferro tem no feijão" asks about food.
pub(crate) fn dosing_request(a: &Analysis) -> Option<&'static str> {
    let taking = a.has(Signal::TakeVerb) || a.has(Signal::DoseRequest);
    // "qual a dose de ferro... o meu é de 60mg": an amount in a dose unit makes it a medicine too
    // (seventh pass).
    let medicine = a.has(Signal::Medicine)
        || (a.has(Signal::Supplement) && (taking || a.has(Signal::DoseUnit)));
    if a.has(Signal::DoseQuestion) && medicine {
        return Some("dosing:question_with_medicine");
    }
    if a.has(Signal::DoseRequest)
        && (numbers::amounts(&a.norm, &a.marks)
            .iter()
            .any(|am| am.numeric && (!am.needs_medicine || medicine))
            || (medicine && worded_amount(a)))
    {
        return Some("dosing:request_with_amount");
    }
    dose_shape(a, medicine, taking)
}

/// Words that count what follows: "quantos zoloft", "how many paracetamol" (after "how").
const COUNT_WORDS: [&str; 3] = ["quantos", "quantas", "many"];

/// "or" between two amounts, in both languages.
const OR_WORDS: [&str; 2] = ["ou", "or"];
/// Words allowed between "or" and the second amount when a medicine is named: "omeprazol de 20
/// ou de 40?", "the 20 or the 40 of the omeprazole?" (sixth pass).
const OR_FILLERS: [&str; 3] = ["de", "the", "a"];
/// Words that ask for one more dose ("posso tomar outro?", "can I take another?").
const ANOTHER: [&str; 6] = ["outro", "outra", "another", "dobrado", "dobrada", "double"];

/// Dose questions recognised by their shape, so that a medicine missing from the list still
/// counts: two amounts joined by "ou"/"or" ("4 ou 8 mg", "tomo 1 ou 2", "500 or 1000?",
/// "20 mg ou 40", with a medicine also "de 20 ou de 40") next to a medicine, a dose unit, a schedule or a taking verb; or a request for
/// another / a doubled dose with a medicine or a number in the message ("posso tomar outro
/// depois de 3 horas?"). One linear pass over the tokens.
fn dose_shape(a: &Analysis, medicine: bool, taking: bool) -> Option<&'static str> {
    let n = &a.norm;
    let num = |i: usize| n.tokens.get(i).is_some_and(|t| t.kind == TokKind::Number);
    let is_or = |i: usize| i < n.tokens.len() && OR_WORDS.contains(&n.tok(i));
    let dosey = medicine || taking || a.has(Signal::DoseUnit) || a.has(Signal::DoseSchedule);
    let mut any_number = false;
    let mut another = false;
    for i in 0..n.tokens.len() {
        any_number |= num(i);
        another |= ANOTHER.contains(&n.tok(i));
        let amount_before = num(i) || (i > 0 && num(i - 1) && a.marks.ends_at(i, Signal::DoseUnit));
        // "a cada 6 ou 7 min" is how often contractions come, not a dose.
        let minutes = a.marks.starts_at(i + 3, Signal::MinuteUnit);
        let second = num(i + 2)
            || (medicine
                && i + 2 < n.tokens.len()
                && OR_FILLERS.contains(&n.tok(i + 2))
                && num(i + 3));
        if dosey && amount_before && is_or(i + 1) && second && !minutes {
            return Some("dosing:comparative_amount");
        }
    }
    if taking && another && (medicine || any_number) {
        return Some("dosing:another_dose");
    }
    // "posso tomar 2 à noite?", "loratadina 2x por dia?": a bare number right after the request,
    // or a number of times, in a message that names a medicine.
    let times = |i: usize| {
        num(i)
            && matches!(
                n.tokens.get(i + 1).map(|_| n.tok(i + 1)),
                Some("x" | "vezes" | "times")
            )
    };
    let bare = a.signal_hits(Signal::DoseRequest).any(|h| num(h.end));
    // "posso tomar de 8 em 8?", "can I take it every 8 hours?": a request for an interval asks a
    // dose even when the medicine goes unnamed (it was named in an earlier turn).
    let interval = |i: usize| {
        (i + 3 < n.tokens.len() && n.tok(i) == "de" && num(i + 1) && n.tok(i + 2) == "em")
            || (n.tokens.get(i).is_some() && n.tok(i) == "every" && num(i + 1))
    };
    if a.signal_hits(Signal::DoseRequest)
        .any(|h| interval(h.end) || interval(h.end + 1))
    {
        return Some("dosing:request_for_interval");
    }
    // "a obstetra receitou sulfato ferroso de 60mg uma vez por dia, comecei ontem": a
    // prescription told back, with nothing asked, is no request (seventh pass).
    let told_back = a.has(Signal::Prescribed) && !a.has(Signal::DoseRequest);
    if medicine && (bare || (!told_back && (0..n.tokens.len()).any(times))) {
        return Some("dosing:request_with_number");
    }
    // "quantos zoloft…", "how many paracetamol…": a count of a named medicine is an amount.
    a.signal_hits(Signal::Medicine)
        .any(|h| h.first > 0 && COUNT_WORDS.contains(&n.tok(h.first - 1)))
        .then_some("dosing:count_of_medicine")
}

/// A number word other than an article right before a dose unit or a medicine ("meio
/// comprimido", "dois comprimidos", "two tylenol"). Counted only in a message that names a
/// medicine: "posso tomar as duas doses da vacina?" is not a dosing request.
fn worded_amount(a: &Analysis) -> bool {
    a.signal_hits(Signal::NumberWord).any(|h| {
        let article = h.end - h.first == 1 && ARTICLES.contains(&a.norm.tok(h.first));
        !article
            && (a.marks.starts_at(h.end, Signal::DoseUnit)
                || a.marks.starts_at(h.end, Signal::Medicine))
    })
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
            // Self-harm is never negated nor read as past or someone else's; only a listed topic
            // phrase around the whole term ("documentary about suicide") sets it aside.
            Kind::SelfHarm if e.input && !a.inside_benign_phrase(h) => {
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
    rules.self_harm(&a, &mut matched);
    self_harm |= matched.len() > before;
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
    let blocks: &[NoticeKind] = if dosing.is_some() {
        &[NoticeKind::Dosing]
    } else {
        &[]
    };
    let (actions, decision) = decide(&categories, blocks, notices, a.lang);
    InputVerdict {
        categories,
        actions,
        decision,
        redacted,
        language: a.lang,
        matched,
        moderation: None,
    }
}

/// The actions and the decision for a message in `categories`. `blocks` are the safe texts of a
/// blocked turn (dosing, moderation), in order: with none the turn is escalated or passed.
/// The crisis notice comes before anything else, then the urgent-care notice; a blocked turn gets
/// them in front of its safe reply.
pub(crate) fn decide(
    categories: &[Category],
    blocks: &[NoticeKind],
    notices: &Notices,
    lang: Lang,
) -> (Vec<Action>, Decision) {
    let self_harm = categories.contains(&Category::SelfHarm);
    let red_flag = categories.contains(&Category::RedFlag);
    let mut actions = Vec::new();
    for (on, act) in [
        (red_flag || self_harm, Action::Escalate),
        (!blocks.is_empty(), Action::Block),
        (categories.contains(&Category::Pii), Action::Redact),
    ] {
        if on {
            actions.push(act);
        }
    }
    if actions.is_empty() {
        actions.push(Action::Pass);
    }
    let mut notice = Vec::new();
    if self_harm {
        notice.push(notices.text(NoticeKind::Crisis, lang));
    }
    if red_flag {
        notice.push(notices.text(NoticeKind::Urgent, lang));
    }
    let decision = if blocks.is_empty() {
        if notice.is_empty() {
            Decision::Pass
        } else {
            Decision::Escalate {
                notice: notice.join("\n\n"),
            }
        }
    } else {
        notice.extend(blocks.iter().map(|&k| notices.text(k, lang)));
        Decision::Block {
            reply: notice.join("\n\n"),
        }
    };
    (actions, decision)
}

//! The guard on the shipped data (`guard/`): every category in both languages, informal
//! spelling, negations and past symptoms, and hostile input.

use std::path::Path;
use std::sync::OnceLock;

use super::*;

mod coverage;
mod evalsets;
mod fifth_pass;
mod fourth_pass;
mod seventh_pass;
mod sixth_pass;
mod third_pass;
mod warning_signs;

/// The shipped guard, loaded once for all tests.
pub(crate) fn guard() -> &'static Guard {
    static GUARD: OnceLock<Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        Guard::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("guard"))
            .unwrap_or_else(|e| panic!("shipped guard data: {e}"))
    })
}

/// `count` texts of up to `max_len - 1` of `pieces` each, drawn by a xorshift sequence from
/// `seed` (fixed, so a property test's failure repeats).
pub(crate) fn random_texts(pieces: &[&str], count: usize, seed: u64, max_len: u64) -> Vec<String> {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = (next() % max_len) as usize;
            (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect()
        })
        .collect()
}

fn cats(text: &str) -> Vec<&'static str> {
    guard()
        .check_input(text, None)
        .categories
        .iter()
        .map(|c| c.as_str())
        .collect()
}

fn assert_category(texts: &[&str], want: &str) {
    for t in texts {
        let v = guard().check_input(t, None);
        assert!(
            v.categories.iter().any(|c| c.as_str() == want),
            "{t:?} should be {want}, got {:?} (matched {:?})",
            v.categories,
            v.matched
        );
    }
}

/// Every text falls in exactly the categories `want`, no more (an urgent escalation for a red
/// flag alone, the crisis notice for self-harm, the safe reply for a dose).
fn assert_exactly(texts: &[&str], want: &[&str]) {
    for t in texts {
        let v = guard().check_input(t, None);
        let got: Vec<&str> = v.categories.iter().map(|c| c.as_str()).collect();
        assert_eq!(got, want, "{t:?} matched {:?}", v.matched);
    }
}

fn assert_benign(texts: &[&str]) {
    for t in texts {
        let v = guard().check_input(t, None);
        assert_eq!(v.decision, Decision::Pass, "{t:?} matched {:?}", v.matched);
    }
}

#[test]
fn danger_signs_escalate_in_portuguese_with_informal_spelling() {
    assert_category(
        &[
            "to com dor de cabeça forte e vendo estrelinhas",
            "to com dor de cabesa e a vista embassada",
            "ta saindo muito sangue",
            "nenem parou de mexer desde ontem",
            "pressao 16 por 11",
            "minha pressão deu 16x11 agora",
            "a bolsa estorou!!",
            "tô com 32 semanas e tendo contrações",
            "febre de 38,5",
            "to com 39 graus",
            "meu rosto inchou de repente",
            "desmaiei no banheiro",
            "nao sinto o bb mexer hj",
            "pressão 14 por 9 e muita dor de cabeça",
        ],
        "red_flag",
    );
}

#[test]
fn danger_signs_escalate_in_english() {
    assert_category(
        &[
            "I have a bad headache and blurry vision",
            "I'm bleeding a lot",
            "my water broke",
            "baby hasn't moved since this morning",
            "bp 160/110",
            "I'm 30 weeks and having contractions",
            "fever of 101 F",
            "I can't breathe properly",
        ],
        "red_flag",
    );
}

#[test]
fn the_urgent_notice_is_in_the_message_language_and_names_samu_in_portuguese() {
    let v = guard().check_input("ta saindo muito sangue", Some("en"));
    assert_eq!(v.language, Lang::PtBr);
    let Decision::Escalate { notice } = &v.decision else {
        panic!("{v:?}");
    };
    assert!(notice.contains("SAMU 192"));
    assert!(v.is_urgent());
    let v = guard().check_input("I'm bleeding a lot", Some("pt-BR"));
    assert_eq!(v.language, Lang::En);
    assert!(
        matches!(&v.decision, Decision::Escalate { notice } if notice.starts_with("Important"))
    );
}

#[test]
fn a_headache_alone_a_normal_pressure_and_past_or_negated_symptoms_pass() {
    assert_benign(&[
        "to com dor de cabeça",
        "dor de cabeça forte hoje",
        "minha pressão deu 11 por 7",
        "a dor de cabeça já passou",
        "tive dor de cabeça e vista embaçada ontem, mas já passou",
        "não tenho sangramento nenhum",
        "não tenho febre nem sangramento",
        "o que é pré-eclâmpsia?",
        "quais são os sinais de alerta de pré-eclâmpsia?",
        "tomei paracetamol ontem e passou",
        "sangramento na gengiva quando escovo os dentes é normal?",
        "I had a headache yesterday but it went away",
        "no bleeding, no fever, baby moving well",
        "what are the warning signs of preeclampsia?",
        "tá fazendo 39 graus lá fora",
        "estou com 38 semanas e tendo contrações de treinamento",
    ]);
}

#[test]
fn a_negation_does_not_hide_a_symptom_after_it() {
    assert_category(&["não tenho febre e estou sangrando muito"], "red_flag");
    assert_category(&["no fever, but I'm bleeding"], "red_flag");
    assert_category(&["estou sem forças e sangrando muito"], "red_flag");
    assert_category(
        &["a dor de cabeça não passou e to vendo estrelinhas"],
        "red_flag",
    );
}

#[test]
fn self_harm_escalates_with_the_crisis_notice_first() {
    assert_category(
        &[
            "nao aguento mais, qro morrer",
            "às vezes penso em me matar",
            "I want to kill myself",
            "I think my family would be better off without me",
            "tenho pensamentos de machucar o nenem",
        ],
        "self_harm",
    );
    let v = guard().check_input("quero morrer e to sangrando muito", None);
    let Decision::Escalate { notice } = &v.decision else {
        panic!("{v:?}");
    };
    let (crisis, urgent) = (
        notice.find("CVV").unwrap(),
        notice.find("SAMU 192").unwrap(),
    );
    assert!(crisis < urgent, "crisis notice first: {notice}");
    assert!(notice.contains("188"));
}

#[test]
fn dosing_requests_are_blocked_with_the_safe_reply() {
    assert_category(
        &[
            "quantos mg de dipirona posso tomar",
            "qual a dose de paracetamol pra grávida?",
            "de quantas em quantas horas posso tomar buscopan",
            "posso tomar 2 comprimidos de ibuprofeno?",
            "qtas gotas de novalgina eu tomo",
            "how much tylenol can I take",
            "how many mg of ibuprofen is safe?",
            "can I take 1000 mg of acetaminophen?",
        ],
        "medication_dosing",
    );
    let v = guard().check_input("quantos mg de dipirona posso tomar", None);
    let Decision::Block { reply } = &v.decision else {
        panic!("{v:?}");
    };
    assert!(reply.contains("pré-natal") && reply.contains("farmacêutico"));
    assert_eq!(v.actions, vec![Action::Block]);
    assert_benign(&[
        "posso tomar dipirona grávida?",
        "quanto de água devo beber por dia?",
        "how much weight should I gain?",
    ]);
}

#[test]
fn personal_data_is_redacted_with_placeholders_in_the_message_language() {
    let v = guard().check_input("meu cpf é 529.982.247-25 e meu zap (11) 91234-5678", None);
    assert_eq!(v.categories, vec![Category::Pii]);
    assert_eq!(v.actions, vec![Action::Redact]);
    assert_eq!(v.decision, Decision::Pass);
    assert_eq!(
        v.redacted.as_deref(),
        Some("meu cpf é [CPF] e meu zap [TELEFONE]")
    );
    assert!(v.matched.iter().all(|m| !m.contains("529")));
    assert_eq!(
        guard()
            .redact("my email is ana@example.com and my phone +55 11 91234 5678")
            .as_deref(),
        Some("my email is [EMAIL] and my phone [PHONE]")
    );
    assert_eq!(guard().redact("cpf 529.982.247-26"), None);
}

#[test]
fn categories_and_actions_combine_in_a_fixed_order() {
    let v = guard().check_input(
        "to sangrando muito, quantos mg de dipirona posso tomar? cpf 52998224725",
        None,
    );
    assert_eq!(
        v.categories,
        vec![Category::RedFlag, Category::MedicationDosing, Category::Pii]
    );
    assert_eq!(
        v.actions,
        vec![Action::Escalate, Action::Block, Action::Redact]
    );
    let Decision::Block { reply } = &v.decision else {
        panic!("{v:?}");
    };
    assert!(reply.find("SAMU").unwrap() < reply.find("farmacêutico").unwrap());
    assert_eq!(cats("bom dia!"), Vec::<&str>::new());
    assert_eq!(
        guard().check_input("bom dia!", None).actions,
        vec![Action::Pass]
    );
}

#[test]
fn empty_huge_and_binary_input_never_panics() {
    let g = guard();
    for t in [
        String::new(),
        " ".repeat(10),
        "\u{0}\u{1}\u{FFFD}\u{202E}".repeat(1000),
        "sangrando ".repeat(50_000),
        "9".repeat(100_000),
        "@.".repeat(50_000),
        (0u8..=127).map(char::from).collect::<String>().repeat(500),
        "🤰🏽💔".repeat(10_000),
    ] {
        let v = g.check_input(&t, Some("zz"));
        let _ = g.check_output(&t, v.language);
        let _ = g.redact(&t);
        let mut s = g.stream_guard(v.language);
        for chunk in t.as_bytes().chunks(997) {
            let _ = s.push(&String::from_utf8_lossy(chunk));
        }
        let _ = s.finish();
    }
}

#[test]
fn the_language_hint_decides_short_or_mixed_messages_and_tags_are_read_by_primary_subtag() {
    assert_eq!(Lang::from_tag("pt"), Some(Lang::PtBr));
    assert_eq!(Lang::from_tag("pt_PT"), Some(Lang::PtBr));
    assert_eq!(Lang::from_tag("en-US"), Some(Lang::En));
    assert_eq!(Lang::from_tag("es"), None);
    assert_eq!(guard().check_input("ok", Some("en-GB")).language, Lang::En);
    assert_eq!(guard().check_input("ok", None).language, Lang::PtBr);
    assert_eq!(guard().check_input("ok", Some("fr")).language, Lang::PtBr);
    let v = guard().check_input("the baby is not moving and I am scared", Some("pt-BR"));
    assert_eq!(v.language, Lang::En);
}

#[test]
fn the_guard_is_shared_across_threads_and_a_stream_guard_moves_between_tasks() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send + 'static>() {}
    send_sync::<Guard>();
    send::<StreamGuard>();
    send_sync::<moderation::Moderator>();
}

#[test]
fn hostile_repetitions_are_analysed_in_linear_time() {
    let unit = "não tenho sangramento, febre 38 já passou, tome 2 mg a cada 8 horas, dor de \
                cabeça e vista embaçada, o que é pressão 16/11? (11) 91234-5678 a@b.co ";
    let small = unit.repeat(500);
    let big = unit.repeat(5_000);
    let time = |t: &str| {
        let start = std::time::Instant::now();
        let v = guard().check_input(t, None);
        let _ = guard().check_output(t, Lang::PtBr);
        (start.elapsed(), v)
    };
    let (t_small, _) = time(&small);
    let (t_big, v) = time(&big);
    assert!(v.is_urgent());
    // Ten times the text, well under a hundred times the time.
    assert!(
        t_big < t_small * 30 + std::time::Duration::from_millis(50),
        "{t_small:?} → {t_big:?}"
    );
}

#[test]
fn shipped_notices_name_samu_192_and_cvv_188() {
    let g = guard();
    assert!(
        g.notice(NoticeKind::Urgent, Lang::PtBr)
            .contains("SAMU 192")
    );
    assert!(g.notice(NoticeKind::Crisis, Lang::PtBr).contains("CVV"));
    assert!(g.notice(NoticeKind::Crisis, Lang::PtBr).contains("188"));
    // Flagged by moderation: violence against women is flagged too, so the reply names Ligue 180.
    assert!(g.notice(NoticeKind::Moderated, Lang::PtBr).contains("180"));
    assert!(
        g.notice(NoticeKind::Unavailable, Lang::PtBr)
            .contains("SAMU 192")
    );
    for lang in Lang::ALL {
        for kind in [
            NoticeKind::Urgent,
            NoticeKind::Crisis,
            NoticeKind::Dosing,
            NoticeKind::Moderated,
            NoticeKind::Unavailable,
            NoticeKind::Degraded,
        ] {
            let text = g.notice(kind, lang);
            assert!(text.len() > 80, "{kind:?} {lang}");
            // A notice must pass the guard itself (it is sent as the answer).
            assert_eq!(g.check_output(text, lang), None, "{kind:?} {lang}");
        }
    }
}

#[test]
fn a_broken_data_file_is_reported_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("guard");
    copy_dir(&src, dir.path());
    let file = dir.path().join("lexicons/pt-BR/symptoms.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}\n[headach]\nterms = [\"dor\"]\n")).unwrap();
    let err = Guard::load(dir.path()).unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("symptoms.toml:"), "{shown}");
    assert!(shown.contains("`headach` is not a known signal"), "{shown}");
    assert_eq!(err.line, Some(text.lines().count() + 3));

    std::fs::write(
        &file,
        format!("{text}\n[more]\nsignal = \"headache\"\nterms = [\"dor de cabeça\"]\n"),
    )
    .unwrap();
    let shown = Guard::load(dir.path()).unwrap_err().to_string();
    assert!(shown.contains("already listed"), "{shown}");

    std::fs::write(&file, "[headache\n").unwrap();
    let err = Guard::load(dir.path()).unwrap_err();
    assert_eq!(err.line, Some(1), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

use crate::guard::tests::guard;
use crate::guard::{Lang, NoticeKind};

/// Feeds `text` in deltas of `n` characters; returns what was released and the violation.
fn stream(text: &str, n: usize, lang: Lang) -> (String, Option<super::Violation>) {
    let mut g = guard().stream_guard(lang);
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    for chunk in chars.chunks(n) {
        match g.push(&chunk.iter().collect::<String>()) {
            Ok(s) => out.push_str(&s),
            Err(v) => return (out, Some(v)),
        }
    }
    match g.finish() {
        Ok(s) => out.push_str(&s),
        Err(v) => return (out, Some(v)),
    }
    (out, None)
}

#[test]
fn a_streamed_dose_never_leaves_the_stream_guard() {
    let mut g = guard().stream_guard(Lang::PtBr);
    let mut released = String::new();
    let mut violation = None;
    for delta in [
        "To", "me", " 5", "00", " m", "g d", "e 6", " em", " 6 ", "hor", "as.",
    ] {
        match g.push(delta) {
            Ok(s) => released.push_str(&s),
            Err(v) => {
                violation = Some(v);
                break;
            }
        }
    }
    let v = violation.expect("the dose is caught mid-stream");
    assert_eq!(v.kind, NoticeKind::Dosing);
    assert_eq!(v.safe_text, guard().notice(NoticeKind::Dosing, Lang::PtBr));
    assert!(
        !released.contains("500") && !released.contains("mg"),
        "{released:?}"
    );
    // Nothing more comes out once stopped.
    assert_eq!(g.push(" Beba água.").unwrap(), "");
    assert_eq!(g.finish().unwrap(), "");
}

#[test]
fn a_dose_after_a_long_benign_answer_is_caught_before_its_amount_is_released() {
    let benign = "Na gravidez é comum sentir dor de cabeça leve. Descanse, beba água e se \
                  alimente bem ao longo do dia, evitando ficar muito tempo sem comer. ";
    let text = format!("{benign}Se precisar, tome 500 mg de dipirona de 6 em 6 horas.");
    for n in [1, 3, 7, 40] {
        let (released, v) = stream(&text, n, Lang::PtBr);
        assert_eq!(v.map(|v| v.kind), Some(NoticeKind::Dosing), "delta {n}");
        assert!(!released.contains("500"), "delta {n}: {released:?}");
        assert!(text.starts_with(&released), "delta {n}: {released:?}");
        assert!(
            released.starts_with(benign),
            "plain text flows: {released:?}"
        );
    }
    let (_, v) = stream("Take 2 tablets every 4 hours with food.", 2, Lang::En);
    assert_eq!(v.map(|v| v.kind), Some(NoticeKind::Dosing));
}

#[test]
fn benign_text_streams_through_with_only_the_window_held_back() {
    let text = "O bebê mexe bastante nessa fase. Conte os movimentos depois do almoço, deitada \
                de lado, e anote quantos sente em duas horas. Se notar que ele mexe bem menos \
                que o normal, procure a maternidade. Cuide-se e descanse bastante.";
    let mut g = guard().stream_guard(Lang::PtBr);
    let mut released = String::new();
    let mut max_held = 0;
    let mut received = 0;
    for c in text.chars() {
        received += c.len_utf8();
        released.push_str(&g.push(&c.to_string()).unwrap());
        max_held = max_held.max(received - released.len());
    }
    assert!(released.len() > text.len() / 3, "text flows before the end");
    let words_held = text[released.len()..].split_whitespace().count();
    assert!(words_held <= 17, "{words_held} words held");
    assert!(max_held < 200, "held {max_held} bytes");
    released.push_str(&g.finish().unwrap());
    assert_eq!(released, text);
}

#[test]
fn personal_data_is_redacted_in_the_stream_and_never_split() {
    let text = "Você pode ligar para a unidade no (11) 91234-5678 ou escrever para \
                contato@ubs.gov.br quando quiser, de segunda a sexta, das oito às dezessete \
                horas, e também aos sábados pela manhã.";
    for n in [1, 2, 5] {
        let (released, v) = stream(text, n, Lang::PtBr);
        assert!(v.is_none());
        assert!(
            released.contains("[TELEFONE]") && released.contains("[EMAIL]"),
            "{released}"
        );
        assert!(
            !released.contains("91234") && !released.contains("5678"),
            "{released}"
        );
    }
}

#[test]
fn a_stream_without_whitespace_is_still_released_and_checked() {
    let blob = "x".repeat(20_000);
    let (released, v) = stream(&blob, 100, Lang::En);
    assert!(v.is_none());
    assert_eq!(released, blob);
}

#[test]
fn the_stream_guard_and_the_output_check_agree() {
    let answers = [
        ("Tome 500 mg de 6 em 6 horas.", Lang::PtBr),
        (
            "Você pode tomar dois comprimidos por dia, mas só com orientação.",
            Lang::PtBr,
        ),
        (
            "A dipirona é um analgésico comum; fale com a sua equipe antes de tomar.",
            Lang::PtBr,
        ),
        ("Beba 2 litros de água por dia e descanse.", Lang::PtBr),
        ("Take 2 tablets every 4 hours.", Lang::En),
        (
            "Rest, drink water, and call your midwife if the headache gets worse.",
            Lang::En,
        ),
        ("The lethal dose is not something I can discuss.", Lang::En),
    ];
    for (text, lang) in answers {
        let whole = guard().check_output_verdict(text, lang);
        let replaced = matches!(whole, crate::guard::OutputVerdict::Replace { .. });
        for n in [1, 4, 16] {
            let (released, v) = stream(text, n, lang);
            assert_eq!(v.is_some(), replaced, "{text:?} in deltas of {n}");
            if !replaced {
                assert_eq!(released, text);
            }
        }
    }
}

#[test]
fn plain_text_is_released_with_the_delta_that_brings_it() {
    let text = "O bebê mexe bastante nessa fase. Conte os movimentos depois do almoço, deitada \
                de lado, e descanse quando puder.";
    let mut g = guard().stream_guard(Lang::PtBr);
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    let mut released = String::new();
    for (i, w) in words.iter().enumerate() {
        let out = g.push(w).unwrap();
        // The last word has no space after it yet: it could still grow (`5` → `500`).
        if i + 1 < words.len() {
            assert_eq!(out, *w, "word {i} goes out as it comes");
        }
        released.push_str(&out);
    }
    released.push_str(&g.finish().unwrap());
    assert_eq!(released, text);
}

#[test]
fn separators_do_not_push_the_anchor_out_of_the_window() {
    let text = format!("Tome{} 500 mg", " -".repeat(40));
    for n in [1, 2, 3] {
        let (released, v) = stream(&text, n, Lang::PtBr);
        assert_eq!(v.map(|v| v.kind), Some(NoticeKind::Dosing), "deltas of {n}");
        assert!(!released.contains("500"), "{released:?}");
    }
}

#[test]
fn invisible_characters_do_not_hide_a_dose_from_the_stream_guard() {
    let text = "Tome 5\u{200B}00 m\u{AD}g de dipi\u{2060}rona de 6 em 6 horas.";
    for n in [1, 4] {
        let (released, v) = stream(text, n, Lang::PtBr);
        assert_eq!(v.map(|v| v.kind), Some(NoticeKind::Dosing), "deltas of {n}");
        assert!(!released.contains('5'), "{released:?}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// However the deltas fall, no amount of a dose ever leaves the guard.
    #[test]
    fn a_dose_split_at_random_boundaries_never_leaves_the_stream_guard(
        cuts in proptest::collection::vec(0usize..200, 0..30),
        which in 0usize..4,
    ) {
        let answers = [
            "Para a dor, tome 500 mg de dipirona de 6 em 6 horas, tá?",
            "Você pode tomar dois comprimidos de paracetamol a cada 8 horas.",
            "Pode usar 40 gotas de dipirona se a febre passar de 38 graus.",
            "For the pain, take 2 tablets of acetaminophen every 4 hours.",
        ];
        let text = answers[which];
        let lang = if which == 3 { Lang::En } else { Lang::PtBr };
        let mut bounds: Vec<usize> = cuts
            .into_iter()
            .map(|c| c % text.len())
            .filter(|&c| text.is_char_boundary(c))
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        let mut g = guard().stream_guard(lang);
        let mut released = String::new();
        let mut caught = false;
        let mut prev = 0;
        for b in bounds.into_iter().chain([text.len()]) {
            match g.push(&text[prev..b]) {
                Ok(s) => released.push_str(&s),
                Err(_) => { caught = true; break; }
            }
            prev = b;
        }
        if !caught {
            caught = g.finish().is_err();
        }
        proptest::prop_assert!(caught, "{text:?} got through as {released:?}");
        for amount in ["500", "dois", "40", " 2 "] {
            proptest::prop_assert!(!released.contains(amount), "{released:?}");
        }
    }
}

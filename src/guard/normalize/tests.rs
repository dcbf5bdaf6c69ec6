use super::*;

fn spelling() -> Spelling {
    let mut s = Spelling::default();
    for (a, b) in [("cabesa", "cabeca"), ("vc", "voce"), ("pq", "por que")] {
        s.insert(a.into(), b.into());
    }
    s
}

#[test]
fn accents_case_and_spacing_are_folded() {
    let n = normalize("  Dor de CABEÇA,   visão   EMBAÇADA!!! ", &spelling());
    assert_eq!(n.text, " dor de cabeca , visao embacada . ");
}

#[test]
fn informal_spellings_are_mapped_to_the_lexicon_form() {
    let n = normalize("to com dor de cabesa pq vc sabe", &spelling());
    assert_eq!(n.text, " to com dor de cabeca por que voce sabe ");
    assert_eq!(n.tokens.len(), 9);
    assert_eq!(n.tok(6), "que");
}

#[test]
fn numbers_keep_their_decimal_mark_and_split_from_units() {
    let n = normalize_plain("febre de 38,5°C; pressão 16x11 e 160/110, 500mg");
    assert_eq!(
        n.text,
        " febre de 38,5 graus c . pressao 16 x 11 e 160 / 110 , 500 mg "
    );
    assert_eq!(n.number(2), Some(38.5));
    assert_eq!(parse_number("1.500"), Some(1500.0));
    assert_eq!(parse_number("39.5"), Some(39.5));
}

#[test]
fn every_token_span_points_at_its_text() {
    let n = normalize("Tô com 32ª semana; vc viu? ñ sei", &spelling());
    for t in &n.tokens {
        assert!(!n.text[t.start..t.end].contains(' '));
        assert_eq!(&n.text[t.start - 1..t.start], " ");
        assert_eq!(&n.text[t.end..t.end + 1], " ");
    }
    assert!(n.text.contains(" 32 a semana . voce viu . n sei "));
}

#[test]
fn apostrophes_join_words() {
    assert_eq!(normalize_plain("I don’t, can't").text, " i dont , cant ");
}

#[test]
fn empty_binary_and_exotic_input_never_panics() {
    assert_eq!(normalize_plain("").text, " ");
    let weird = "\u{0}\u{7}\u{FEFF}🤰🏽 ﬁ ① Ⅻ ß İ 漢字 \u{301}\u{301}";
    let n = normalize_plain(weird);
    assert!(n.text.contains(" fi "));
    assert!(n.text.contains(" ss ") || n.text.contains(" ß "));
    let huge = "á".repeat(200_000);
    assert_eq!(normalize_plain(&huge).tokens.len(), 1);
}

#[test]
fn format_characters_join_words_and_full_width_forms_fold() {
    let n = normalize_plain(
        "sangra\u{200B}mento, dipi\u{AD}rona \u{FF15}\u{FF10}\u{FF10}\u{FF4D}\u{FF47}",
    );
    assert_eq!(n.text, " sangramento , dipirona 500 mg ");
    assert_eq!(n.number(3), Some(500.0));
}

#[test]
fn every_token_knows_where_it_starts_in_the_input() {
    let input = "Tome - - 50\u{200B}0 mg, cabesa";
    let n = normalize(input, &spelling());
    assert_eq!(n.source.len(), n.tokens.len());
    let starts: Vec<&str> = n.source.iter().map(|&s| &input[s..]).collect();
    assert!(starts[0].starts_with("Tome"));
    assert!(starts[1].starts_with("50"));
    assert!(starts[2].starts_with("mg"));
    assert!(starts[3].starts_with(','));
    assert!(starts[4].starts_with("cabesa"));
}

/// The character loop as it was before the ASCII fast path (session 12), kept to check that
/// the fast path changes nothing.
fn normalize_reference(input: &str, spelling: &Spelling) -> Normalized {
    let mut w = Writer {
        out: String::from(" "),
        tokens: Vec::new(),
        source: Vec::new(),
        open: None,
        open_src: 0,
        src: 0,
        spelling,
    };
    let mut chars = input
        .char_indices()
        .filter_map(|(i, c)| fold_char(c).map(|c| (i, c)))
        .peekable();
    let mut prev_digit = false;
    while let Some((at, c)) = chars.next() {
        w.src = at;
        let next_is_digit = chars.peek().is_some_and(|(_, n)| n.is_ascii_digit());
        if c.is_ascii() {
            w.ascii(c, next_is_digit);
            prev_digit = c.is_ascii_digit();
            continue;
        }
        w.other(c, prev_digit);
        prev_digit = false;
    }
    w.close();
    let values = w
        .tokens
        .iter()
        .map(|t| match t.kind {
            TokKind::Number => parse_number_reference(&w.out[t.start..t.end]),
            _ => None,
        })
        .collect();
    Normalized {
        text: w.out,
        tokens: w.tokens,
        source: w.source,
        values,
    }
}

/// `parse_number` as it was, allocating its rewritten text.
fn parse_number_reference(t: &str) -> Option<f64> {
    if t.len() > 12 {
        return None;
    }
    let s: String = if t.contains(',') {
        t.replace('.', "").replace(',', ".")
    } else if let Some((_, frac)) = t.split_once('.')
        && frac.len() == 3
        && !frac.contains('.')
    {
        t.replace('.', "")
    } else {
        t.to_string()
    };
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Random messages from pieces that exercise every branch: digits with decimal marks, format
/// and full-width characters between digits, degree signs, accents, spellings, punctuation runs
/// (a fixed xorshift sequence, so a failure repeats).
fn random_messages(count: usize) -> Vec<String> {
    const PIECES: &[&str] = &[
        "a",
        "Dor",
        " ",
        "  ",
        "cabesa",
        "vc",
        "pq",
        "1",
        "38",
        ",",
        ".",
        "5",
        "1.500",
        "38,5",
        "!",
        "?",
        ";",
        "\n",
        "\r",
        "/",
        "'",
        "`",
        "-",
        "\u{B0}",
        "\u{BA}",
        "\u{AA}",
        "\u{2019}",
        "\u{2026}",
        "\u{85}",
        "\u{200B}",
        "\u{AD}",
        "\u{FEFF}",
        "\u{FF15}",
        "\u{FF10}",
        "\u{FF0C}",
        "\u{3000}",
        "ç",
        "Ã",
        "é",
        "ñ",
        "ß",
        "İ",
        "ﬁ",
        "①",
        "½",
        "²",
        "×",
        "漢",
        "🤰",
        "\u{301}",
        "\u{0}",
        "x",
        "mg",
        "123456789012345",
    ];
    crate::guard::tests::random_texts(PIECES, count, 0x2545_F491_4F6C_DD1D, 20)
}

#[test]
fn the_ascii_fast_path_normalises_exactly_as_the_character_loop() {
    let sp = spelling();
    for text in random_messages(5000) {
        let (fast, slow) = (normalize(&text, &sp), normalize_reference(&text, &sp));
        assert_eq!(fast.text, slow.text, "{text:?}");
        assert_eq!(fast.tokens, slow.tokens, "{text:?}");
        assert_eq!(fast.source, slow.source, "{text:?}");
        let bits = |n: &Normalized| -> Vec<Option<u64>> {
            (0..n.tokens.len())
                .map(|i| n.number(i).map(f64::to_bits))
                .collect()
        };
        assert_eq!(bits(&fast), bits(&slow), "{text:?}");
    }
}

#[test]
fn numbers_parse_as_before_without_allocating() {
    for t in [
        "1",
        "38,5",
        "38.5",
        "1.500",
        "1.500,25",
        "1,500",
        "1.5.0",
        "12.345.678",
        "0,5",
        "1.50",
        "999999999999",
        "9999999999999",
        ",5",
        "5,",
        "1..5",
        "1,2,3",
    ] {
        assert_eq!(
            parse_number(t).map(f64::to_bits),
            parse_number_reference(t).map(f64::to_bits),
            "{t}"
        );
    }
}

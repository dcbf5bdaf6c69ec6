use super::*;

fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

fn redacted(text: &str) -> String {
    redact(text, &find(text), |k| match k {
        PiiKind::Cpf => "[CPF]",
        PiiKind::Cns => "[CNS]",
        PiiKind::Phone => "[TELEFONE]",
        PiiKind::Email => "[EMAIL]",
        PiiKind::Address => "[ENDEREÇO]",
    })
}

#[test]
fn a_cpf_with_valid_check_digits_is_recognised_with_or_without_punctuation() {
    assert!(cpf_valid(&digits("529.982.247-25")));
    assert!(cpf_valid(&digits("34167211017")));
    assert_eq!(redacted("meu cpf é 529.982.247-25."), "meu cpf é [CPF].");
    assert_eq!(redacted("cpf 52998224725 ok"), "cpf [CPF] ok");
    assert_eq!(redacted("CPF: 684 038 854 90"), "CPF: [CPF]");
    assert_eq!(redacted("cpf 214304432-19"), "cpf [CPF]");
}

#[test]
fn a_cpf_with_wrong_check_digits_or_one_repeated_digit_is_left_alone() {
    assert!(!cpf_valid(&digits("529.982.247-26")));
    assert!(!cpf_valid(&digits("111.111.111-11")));
    assert_eq!(redacted("cpf 529.982.247-26"), "cpf 529.982.247-26");
    assert_eq!(redacted("cpf 000.000.000-00"), "cpf 000.000.000-00");
}

#[test]
fn a_definitive_cns_starting_with_1_or_2_is_validated_by_its_pis_digit() {
    for ok in ["245195683230006", "241840494830002", "237425695830018"] {
        assert!(cns_valid(&digits(ok)), "{ok}");
    }
    assert!(!cns_valid(&digits("245195683230007")));
    // The `001` form is only valid when the first check digit came out as 10.
    assert!(!cns_valid(&digits("245195683230016")));
    assert_eq!(
        redacted("cartão do SUS 245 1956 8323 0006"),
        "cartão do SUS [CNS]"
    );
}

#[test]
fn a_provisional_cns_starting_with_7_8_or_9_is_validated_by_its_weighted_sum() {
    for ok in ["997818364532009", "887512078893031", "788484365230764"] {
        assert!(cns_valid(&digits(ok)), "{ok}");
    }
    assert!(!cns_valid(&digits("898001234567890")));
    assert!(!cns_valid(&digits("345195683230006")));
    assert_eq!(redacted("cns 788484365230764"), "cns [CNS]");
    assert_eq!(redacted("cns 788484365230765"), "cns 788484365230765");
}

#[test]
fn brazilian_phone_numbers_are_found_in_their_usual_shapes() {
    for (text, want) in [
        ("liga (11) 91234-5678 pfv", "liga [TELEFONE] pfv"),
        ("+55 11 91234 5678", "[TELEFONE]"),
        ("+55 (21) 3333-4444", "[TELEFONE]"),
        ("meu zap 11912345678", "meu zap [TELEFONE]"),
        ("5511912345678", "[TELEFONE]"),
        ("fixo 21 3333-4444", "fixo [TELEFONE]"),
        ("celular 91234-5678", "celular [TELEFONE]"),
    ] {
        assert_eq!(redacted(text), want, "{text}");
    }
}

#[test]
fn clinical_numbers_dates_and_invalid_area_codes_are_not_phones() {
    for text in [
        "pressão 160/110 e 16 por 11",
        "febre de 38,5 às 10:30 do dia 26/11/2024",
        "peso 3.200 g, 32 semanas",
        "(10) 3333-4444",
        "1234-5678",
        "2024-11-26",
    ] {
        assert_eq!(redacted(text), text);
    }
}

#[test]
fn e_mails_are_redacted_and_a_bare_at_sign_is_not() {
    assert_eq!(
        redacted("escreve pra maria.silva+bebe@gmail.com.br."),
        "escreve pra [EMAIL]."
    );
    assert_eq!(redacted("a@b"), "a@b");
    assert_eq!(redacted("@@@ x@y.z"), "@@@ x@y.z");
    assert_eq!(
        redacted("ana12345678909@x.com e cpf 52998224725"),
        "[EMAIL] e cpf [CPF]"
    );
}

#[test]
fn huge_and_hostile_inputs_are_scanned_without_panicking() {
    // Their cost per character is measured by `cargo bench --bench guard` (hostile inputs), not
    // by a timer here.
    let digits = "1 ".repeat(200_000);
    let ats = "a@".repeat(200_000);
    let mixed = "(((+55 ".repeat(50_000) + "é@é.é 9-";
    for t in [
        digits.as_str(),
        ats.as_str(),
        mixed.as_str(),
        "",
        "\u{0}\u{FFFF}",
    ] {
        let out = redacted(t);
        // Nothing in them is personal data, so they come back unchanged.
        assert!(out == t, "changed a hostile input of {} bytes", t.len());
    }
}

#[test]
fn other_separators_long_separator_runs_full_width_digits_and_invisible_characters_do_not_hide_a_number()
 {
    for text in [
        "cpf 529_982_247_25",
        "cpf 529/982/247/25",
        "cpf 529,982,247,25",
        "cpf 529 .  982 -- 247 - - 25",
        "cpf ５２９.９８２.２４７-２５",
        "cpf 529\u{200B}982\u{AD}247\u{2060}25",
        "cel 11_91234_5678",
        "cel (１１) ９１２３４-５６７８",
    ] {
        let out = redacted(text);
        assert!(
            out.ends_with("[CPF]") || out.ends_with("[TELEFONE]"),
            "{text:?} → {out:?}"
        );
    }
}

#[test]
fn a_street_with_its_number_and_a_cep_are_addresses() {
    assert_eq!(
        redacted("moro na Rua das Acacias, 245, apto 32, Curitiba PR, CEP 80210-140"),
        "moro na [ENDEREÇO], apto 32, Curitiba PR, CEP [ENDEREÇO]"
    );
    assert_eq!(
        redacted("meu endereco eh Av. Sete de Setembro 1020 casa 2, Barra"),
        "meu endereco eh [ENDEREÇO] casa 2, Barra"
    );
    assert_eq!(
        redacted("I live at Rua Harmonia 88, Vila Madalena, 05435-000"),
        "I live at [ENDEREÇO], Vila Madalena, [ENDEREÇO]"
    );
    assert_eq!(redacted("travessa são joão, nº 12"), "[ENDEREÇO]");
    assert_eq!(redacted("travessa são joão 12"), "[ENDEREÇO]");
    assert_eq!(redacted("cep: 80210140"), "cep: [ENDEREÇO]");
}

#[test]
fn the_street_as_a_place_and_quantities_are_not_addresses() {
    for text in [
        "andei na rua por 2 horas e a barriga endureceu",
        "fiquei na rua ontem 3 horas",
        "a rua estava escura 2 dias seguidos",
        "rua 25 de março lotada",
        "tomei 80210140 gotas",
        "foram 12345 passos hoje",
        "my avenue of thought 12",
    ] {
        assert_eq!(redacted(text), text, "{text}");
    }
}

#[test]
fn foreign_phone_numbers_in_international_and_north_american_form_are_phones() {
    for (text, want) in [
        ("call me on +1 (614) 555-0142", "call me on [TELEFONE]"),
        (
            "my uk mobile is +44 7700 900123",
            "my uk mobile is [TELEFONE]",
        ),
        (
            "número de portugal +351 912 345 678",
            "número de portugal [TELEFONE]",
        ),
        ("+49 30 123456", "[TELEFONE]"),
        ("text 312-555-0198 anytime", "text [TELEFONE] anytime"),
        ("(415) 555 0134", "[TELEFONE]"),
        ("1 212 555 0100", "[TELEFONE]"),
    ] {
        assert_eq!(redacted(text), want, "{text}");
    }
    // A plus sign before a short number, and three-three-four groups that cannot be a North
    // American number, are left alone.
    for text in ["+2 semanas", "pressão +10", "lote 012-345-6789"] {
        assert_eq!(redacted(text), text, "{text}");
    }
}

#[test]
fn an_english_style_street_and_a_zip_code_after_a_state_are_addresses() {
    assert_eq!(
        redacted("send it to 2458 Oakridge Dr, Apt 12C, Austin TX 78704"),
        "send it to [ENDEREÇO], Apt 12C, Austin TX [ENDEREÇO]"
    );
    assert_eq!(
        redacted("my address is 77 Wellington St, Unit 3, Boston, MA 02118-1234"),
        "my address is [ENDEREÇO], Unit 3, Boston, MA [ENDEREÇO]"
    );
    assert_eq!(
        redacted("i live at 1502 sunset avenue apt 7"),
        "i live at [ENDEREÇO] apt 7"
    );
    assert_eq!(
        redacted("we're at 12 W 3rd St now"),
        "we're at [ENDEREÇO] now"
    );
}

#[test]
fn counts_before_a_road_word_and_bare_five_digit_numbers_are_not_addresses() {
    for text in [
        "walked 2 blocks down the street",
        "i took 2 pills dr said it was fine",
        "3 times a day on the road",
        "38 weeks and my street is noisy",
        "bebê pesa 3200 g, ok 12345 passos",
        "foram 12345 passos hoje",
    ] {
        assert_eq!(redacted(text), text, "{text}");
    }
}

/// Random messages built from pieces of every personal-data shape, accented words and
/// separators (a fixed xorshift sequence, so a failure repeats).
fn random_messages(count: usize) -> Vec<String> {
    const PIECES: &[&str] = &[
        "rua ",
        "Rua das Flores ",
        "av. ",
        "praça ",
        "Main ",
        "Street",
        "Dr ",
        "Oakridge ",
        "cep ",
        "TX ",
        "MA, ",
        "+55 ",
        "+44 ",
        "(11) ",
        "91234-5678",
        "529.982.247-25",
        "80210-140",
        "78704",
        "245195683230006",
        "614-555-0142",
        "12",
        "3",
        "1500",
        "-",
        ".",
        ",",
        " ",
        "  ",
        "/",
        "_",
        "(",
        ")",
        "@",
        "maria.silva",
        "@gmail.com",
        "ç",
        "ã",
        "é",
        "à",
        "ü",
        "ñ",
        "º",
        "°",
        "não ",
        "cabeça ",
        "horas ",
        "semanas ",
        "ß",
        "漢",
        "🤰",
        "\n",
    ];
    crate::guard::tests::random_texts(PIECES, count, 0x9E37_79B9_7F4A_7C15, 24)
}

#[test]
fn text_with_nothing_to_fold_is_scanned_as_it_is_with_the_spans_of_the_folded_scan() {
    let mut accented = 0;
    for text in random_messages(4000) {
        accented += usize::from(!text.is_ascii());
        assert_eq!(find(&text), find_folded(&text), "{text:?}");
    }
    assert!(accented > 1000, "{accented}");
}

#[test]
fn the_street_word_and_word_byte_tables_answer_as_the_comparisons_they_replace() {
    for c in 0..=255u8 {
        assert_eq!(
            address::is_word_byte(c),
            c.is_ascii_alphanumeric() || c >= 0x80
        );
    }
    let streets: &[&[u8]] = &[
        b"rua",
        b"r.",
        b"avenida",
        b"av",
        b"av.",
        b"travessa",
        b"tv.",
        b"alameda",
        b"estrada",
        b"rodovia",
        b"praca",
        "praça".as_bytes(),
    ];
    let old = |w: &[u8]| {
        let bare = w.strip_suffix(b".").unwrap_or(w);
        streets
            .iter()
            .any(|s| w.eq_ignore_ascii_case(s) || bare.eq_ignore_ascii_case(s))
    };
    let mut words: Vec<Vec<u8>> = Vec::new();
    for s in streets {
        for w in [
            s.to_vec(),
            s.to_ascii_uppercase(),
            [*s, b"."].concat(),
            [*s, b".."].concat(),
        ] {
            words.push(w);
        }
    }
    for w in [
        "Rua.",
        "RUA",
        "rua1",
        "ru",
        "avenidas",
        "travessa.",
        "TRAVESSA.",
        "PRAÇA",
        "praçA.",
    ] {
        words.push(w.as_bytes().to_vec());
    }
    words.extend(random_messages(500).into_iter().map(String::into_bytes));
    for w in words {
        assert_eq!(
            address::is_street_word(&w),
            old(&w),
            "{:?}",
            String::from_utf8_lossy(&w)
        );
    }
}

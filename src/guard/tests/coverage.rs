//! Coverage of the Caderneta da Gestante warning signs in everyday wording (issue #13), and the
//! mentions that must stay benign: someone else's symptom, a hypothetical, a question.

use super::{assert_benign, assert_category};

#[test]
fn a_third_partys_symptom_is_not_escalated_but_the_pregnant_womans_is() {
    assert_benign(&[
        "meu marido está com febre, posso pegar?",
        "meu pai ta com febre de 39 e tosse",
        "my husband has a fever, can i catch it?",
        "my dad fainted when he saw the needle",
        "minha amiga está com o rosto inchado de tanto chorar",
    ]);
    // The wife, the partner and the girlfriend may be the pregnant woman; a relative who is
    // pregnant, or a sentence that comes back to "eu", is hers again.
    assert_category(
        &[
            "minha esposa está sangrando muito",
            "my wife is bleeding and she is 30 weeks",
            "minha irmã está grávida e sangrando",
            "minha irmã está com 30 semanas e perdendo líquido",
            "my sister is bleeding and she's 20 weeks pregnant",
            "meu marido está com febre e eu estou sangrando",
            "my husband says i fainted in the kitchen",
        ],
        "red_flag",
    );
}

#[test]
fn waters_breaking_and_upper_right_pain_are_recognised_in_everyday_words() {
    assert_category(
        &[
            "ta saindo uma agua pela vagina, 32 semanas",
            "vazando um liquido esverdeado",
            "clear fluid trickling down my legs",
            "dor forte embaixo das costelas do lado direito",
            "pain under my right ribs",
            "dor na boca do estômago e enjoo, 35 semanas",
        ],
        "red_flag",
    );
    // Nausea with a stomach ache early in pregnancy is common; a glass of water is not a leak.
    assert_benign(&[
        "enjoo e dor no estômago com 8 semanas",
        "bebo muita água, é normal ir muito ao banheiro?",
    ]);
}

#[test]
fn indirect_self_harm_is_escalated() {
    assert_category(
        &[
            "não queria mais acordar",
            "seria melhor se eu sumisse",
            "i dont want to wake up tomorrow",
            "tenho medo de fazer alguma coisa com meu bebê",
        ],
        "self_harm",
    );
    assert_benign(&["tenho medo de não acordar quando o bebê chorar"]);
}

#[test]
fn a_dose_in_words_is_blocked_but_an_article_is_not_an_amount() {
    assert_category(
        &[
            "posso tomar meio comprimido de dramin?",
            "can i take two tylenol at once?",
            "quanto de ferro eu tomo por dia",
            "how much magnesium should i take",
        ],
        "medication_dosing",
    );
    assert_benign(&[
        "posso tomar um comprimido de dipirona grávida?",
        "quanto de ferro tem no feijão?",
        "posso tomar dois copos de suco?",
    ]);
}

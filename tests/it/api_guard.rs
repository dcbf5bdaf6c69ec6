//! Guardrails through the chat API. Wired today: personal data is redacted before the upstream
//! call and before storage, in plain and content-part messages, streamed or not.

use crate::common;
use crate::common::on_both_backends;

use common::spawn_app;
use serde_json::json;

const CPF: &str = "529.982.247-25";

async fn the_upstream_and_the_log_never_see_a_cpf_an_email_or_a_phone() {
    let app = spawn_app().await;
    let text = format!(
        "Meu CPF é {CPF}, e-mail maria.souza@example.com, celular (11) 91234-5678. Tenho consulta amanhã."
    );
    let body = json!({
        "model": "gpt-echo",
        "user": "maria.souza@example.com",
        "metadata": {"conversation_id": "conv-pii"},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": format!("antes: {CPF}")}]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": text}
        ]
    });
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 200);
    let sent = app.upstream.requests()[0].body.to_string();
    for raw in [CPF, "52998224725", "maria.souza@example.com", "91234-5678"] {
        assert!(!sent.contains(raw), "{raw} reached the upstream: {sent}");
    }
    assert!(sent.contains("[CPF]"), "{sent}");
    assert!(
        sent.contains("Tenho consulta amanhã"),
        "the rest of the message is kept"
    );

    let sse = app.post_stream("/v1/chat/completions", &body.clone()).await;
    assert!(!sse.contains(CPF));
    assert!(!app.upstream.requests()[1].body.to_string().contains(CPF));

    app.settle().await;
    for m in app.conversation_messages("conv-pii").await {
        assert!(
            !m.content.contains(CPF) && !m.content.contains("maria.souza@"),
            "stored raw PII: {}",
            m.content
        );
    }
}
on_both_backends!(the_upstream_and_the_log_never_see_a_cpf_an_email_or_a_phone);

async fn numbers_that_are_not_valid_cpfs_pass_unchanged() {
    let app = spawn_app().await;
    // Wrong check digits: not a CPF, so nothing to hide (a lab value, an order number).
    let res = app
        .post(
            "/v1/chat/completions",
            &common::chat("gpt-echo", "pedido 123.456.789-00"),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        app.upstream.requests()[0]
            .body
            .to_string()
            .contains("123.456.789-00")
    );
}
on_both_backends!(numbers_that_are_not_valid_cpfs_pass_unchanged);

fn content(body: &serde_json::Value) -> String {
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Sends `message` to the echo model and asserts the turn was escalated with `notice` in `lang`
/// before the model's answer, with `category` the guard's only category.
async fn assert_escalated(
    app: &common::TestApp,
    message: &str,
    notice: &str,
    lang: &str,
    category: &str,
) {
    let res = app
        .post("/v1/chat/completions", &common::chat("gpt-echo", message))
        .await;
    assert_eq!(res.status(), 200);
    let answer: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        content(&answer),
        format!("{}\n\necho: {message}", common::notice(notice, lang)),
        "the {notice} notice, then the model's answer"
    );
    let guard = &answer["powerbirth"]["guard"];
    assert_eq!(guard["decision"], "escalate", "{guard}");
    assert_eq!(guard["categories"], json!([category]), "{guard}");
}

async fn a_danger_sign_in_informal_portuguese_is_escalated_and_the_conversation_flagged_urgent() {
    let app = spawn_app().await;
    let mut body = common::chat(
        "gpt-echo",
        "to com dor de cabeça forte e vendo estrelinhas, 34 semanas",
    );
    body["metadata"] = json!({"conversation_id": "conv-urgent"});
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 200);
    let answer: serde_json::Value = res.json().await.unwrap();
    let text = content(&answer);
    assert_eq!(
        text,
        format!(
            "{}\n\necho: to com dor de cabeça forte e vendo estrelinhas, 34 semanas",
            common::notice("urgent", "pt-BR")
        ),
        "the urgent-care notice (SAMU 192) first, then the model"
    );
    assert!(text.contains("SAMU 192"));
    let guard = &answer["powerbirth"]["guard"];
    assert!(
        guard["categories"]
            .as_array()
            .unwrap()
            .contains(&json!("red_flag")),
        "{guard}"
    );
    assert_eq!(guard["decision"], "escalate");

    app.settle().await;
    let stored = app.conversation_messages("conv-urgent").await;
    let user = stored.iter().find(|m| m.role == "user").unwrap();
    assert!(user.urgent, "the conversation is urgent");
    assert!(user.guard.as_deref().unwrap().contains("red_flag"));
}
on_both_backends!(
    a_danger_sign_in_informal_portuguese_is_escalated_and_the_conversation_flagged_urgent
);

async fn a_streamed_danger_sign_in_english_starts_with_the_urgent_notice() {
    let app = spawn_app().await;
    let sse = app
        .post_stream(
            "/v1/chat/completions",
            &common::chat(
                "gpt-echo",
                "I have a really bad headache and blurred vision at 34 weeks",
            ),
        )
        .await;
    let text = common::sse_text(&sse);
    assert_eq!(
        text,
        format!(
            "{}\n\necho: I have a really bad headache and blurred vision at 34 weeks",
            common::notice("urgent", "en")
        ),
        "the English urgent-care notice precedes the answer"
    );
    assert!(sse.ends_with("data: [DONE]\n\n"));
}
on_both_backends!(a_streamed_danger_sign_in_english_starts_with_the_urgent_notice);

/// Fifth lexicon pass: "a cada 6 ou 7 min" is how often contractions come; it used to be read as
/// a choice between two doses and the turn blocked with the dosing reply.
async fn contractions_minutes_apart_are_escalated_not_blocked_as_a_dose() {
    let app = spawn_app().await;
    assert_escalated(
        &app,
        "a barriga fica dura feito pedra a cada 6 ou 7 min",
        "urgent",
        "pt-BR",
        "red_flag",
    )
    .await;
}
on_both_backends!(contractions_minutes_apart_are_escalated_not_blocked_as_a_dose);

/// Sixth lexicon pass: whether a medicine taken with alcohol "mata?" is a lethality question. It
/// names a medicine but asks no dose, so the turn gets the crisis notice and the model's answer,
/// not the dosing block; lochia that is getting lighter passes untouched.
async fn a_medicine_with_alcohol_mata_gets_the_crisis_notice_and_lighter_lochia_passes() {
    let app = spawn_app().await;
    assert_escalated(
        &app,
        "rivotril com vinho mata?",
        "crisis",
        "pt-BR",
        "self_harm",
    )
    .await;

    let lochia =
        "dia 3 pos parto, sangrando tipo menstruacao mas ta diminuindo, isso e loquio normal?";
    let res = app
        .post("/v1/chat/completions", &common::chat("gpt-echo", lochia))
        .await;
    let answer: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        content(&answer),
        format!("echo: {lochia}"),
        "passed untouched"
    );
}
on_both_backends!(a_medicine_with_alcohol_mata_gets_the_crisis_notice_and_lighter_lochia_passes);

/// Seventh lexicon pass: an overdose in progress (swallowed, many, a medicine, drowsy) is no
/// dose question: the turn gets the crisis notice and the model's answer, not the dosing block;
/// a prescription told back with nothing asked reaches the model.
async fn an_overdose_in_progress_gets_the_crisis_notice_and_a_prescription_told_back_passes() {
    let app = spawn_app().await;
    assert_escalated(
        &app,
        "tomei um punhado de rivotril agora, to ficando zonza",
        "crisis",
        "pt-BR",
        "self_harm",
    )
    .await;

    let told_back =
        "minha obstetra receitou sulfato ferroso de 60mg uma vez por dia, comecei ontem";
    let res = app
        .post("/v1/chat/completions", &common::chat("gpt-echo", told_back))
        .await;
    assert_eq!(res.status(), 200);
    // The input guard lets it through to the model (a dosing block would not call it); the echo
    // then repeats the dose, which the output guard replaces, as it does every answer's dose.
    let sent = app.upstream.requests();
    assert_eq!(sent.len(), 2, "the model was called for both turns");
    assert!(
        sent[1]
            .body
            .to_string()
            .contains("receitou sulfato ferroso")
    );
}
on_both_backends!(
    an_overdose_in_progress_gets_the_crisis_notice_and_a_prescription_told_back_passes
);

async fn a_dose_request_is_answered_safely_without_calling_the_model() {
    let app = spawn_app().await;
    let body = common::chat(
        "gpt-echo",
        "quantos mg de dipirona posso tomar pra dor de cabeça?",
    );
    let res = app.post("/v1/chat/completions", &body).await;
    assert_eq!(res.status(), 200);
    let answer: serde_json::Value = res.json().await.unwrap();
    let text = content(&answer);
    assert_eq!(text, common::notice("dosing", "pt-BR"), "the safe reply");
    assert_eq!(answer["powerbirth"]["guard"]["decision"], "block");

    let sse = app.post_stream("/v1/chat/completions", &body.clone()).await;
    assert_eq!(
        common::sse_text(&sse),
        text,
        "the same safe reply, streamed"
    );
    assert!(
        app.upstream.requests().is_empty(),
        "no upstream call for a blocked turn"
    );
    app.settle().await;
    assert_eq!(app.store.count_messages("assistant").await.unwrap(), 2);
}
on_both_backends!(a_dose_request_is_answered_safely_without_calling_the_model);

async fn self_harm_gets_the_crisis_notice_first() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/v1/chat/completions",
            &common::chat("gpt-echo", "não aguento mais, quero morrer"),
        )
        .await;
    let answer: serde_json::Value = res.json().await.unwrap();
    let text = content(&answer);
    assert_eq!(
        text,
        format!(
            "{}\n\necho: não aguento mais, quero morrer",
            common::notice("crisis", "pt-BR")
        ),
        "the crisis notice (CVV 188) first"
    );
    assert!(text.contains("CVV no 188"));
}
on_both_backends!(self_harm_gets_the_crisis_notice_first);

async fn a_dose_in_the_model_answer_is_replaced_before_it_reaches_the_client() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/v1/chat/completions",
            &common::chat("gpt-dose", "estou com dor nas costas"),
        )
        .await;
    assert_eq!(res.status(), 200);
    let raw = res.text().await.unwrap();
    assert!(
        !raw.contains("500 mg") && !raw.contains("40 gotas"),
        "the dose reached the client: {raw}"
    );
    let answer: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(answer["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(content(&answer), common::notice("dosing", "pt-BR"));
}
on_both_backends!(a_dose_in_the_model_answer_is_replaced_before_it_reaches_the_client);

async fn a_streamed_dose_never_reaches_the_client() {
    let app = spawn_app().await;
    let sse = app
        .post_stream(
            "/v1/chat/completions",
            &common::chat("gpt-dose", "estou com dor nas costas"),
        )
        .await;
    // The text of every frame (not its random id, which may well contain "500").
    for frame in sse.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let Ok(chunk) = serde_json::from_str::<serde_json::Value>(frame) else {
            continue;
        };
        let text = chunk["choices"].to_string();
        assert!(
            !text.contains("500") && !text.contains("40 gotas"),
            "unchecked span leaked: {frame}"
        );
    }
    assert!(
        sse.contains("\"finish_reason\":\"content_filter\""),
        "{sse}"
    );
    assert!(sse.ends_with("data: [DONE]\n\n"));
    // Nothing of the answer was shown (its first window already holds the dose); the safe text
    // always starts a new paragraph, after whatever had been shown.
    assert_eq!(
        common::sse_text(&sse),
        format!("\n\n{}", common::notice("dosing", "pt-BR")),
        "the safe text is shown instead"
    );
}
on_both_backends!(a_streamed_dose_never_reaches_the_client);

async fn the_guard_reads_accept_language_by_q_values_as_the_prompt_does() {
    let app = spawn_app().await;
    // A reading with no words to vote on a language: the client's preference decides, and
    // pt-BR (q=0.9) is preferred to en (q=0.5) although en comes first.
    let res = app
        .http
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&app.client_key)
        .header("accept-language", "en;q=0.5, pt-BR;q=0.9")
        .json(&common::chat("gpt-echo", "160/110 mmHg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answer: serde_json::Value = res.json().await.unwrap();
    assert_eq!(answer["powerbirth"]["guard"]["decision"], "escalate");
    assert_eq!(
        content(&answer),
        format!(
            "{}\n\necho: 160/110 mmHg",
            common::notice("urgent", "pt-BR")
        ),
        "the notice is in pt-BR"
    );
}
on_both_backends!(the_guard_reads_accept_language_by_q_values_as_the_prompt_does);

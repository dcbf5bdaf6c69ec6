//! Guardrails through the chat API. Wired today: personal data is redacted before the upstream
//! call and before storage, in plain and content-part messages, streamed or not.

mod common;

use common::spawn_app;
use serde_json::json;

const CPF: &str = "529.982.247-25";

#[tokio::test]
async fn the_upstream_and_the_log_never_see_a_cpf_an_email_or_a_phone() {
    let app = spawn_app().await;
    let text = format!(
        "Meu CPF é {CPF}, e-mail maria.souza@example.com, celular (11) 91234-5678. Tenho consulta amanhã."
    );
    let body = json!({
        "model": "gpt-echo",
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

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let sse = app
        .post("/v1/chat/completions", &streamed)
        .await
        .text()
        .await
        .unwrap();
    assert!(!sse.contains(CPF));
    assert!(!app.upstream.requests()[1].body.to_string().contains(CPF));

    app.settle().await;
    for m in app.store.conversation_messages("conv-pii").await.unwrap() {
        assert!(
            !m.content.contains(CPF) && !m.content.contains("maria.souza@"),
            "stored raw PII: {}",
            m.content
        );
    }
}

#[tokio::test]
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

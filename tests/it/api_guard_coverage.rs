//! Danger signs in everyday words through the chat API (issue #13): a partner writing about the
//! pregnant woman is escalated, someone else's symptom is not, and indirect self-harm gets the
//! crisis notice first, streamed too.

use crate::common;
use crate::common::on_both_backends;

use common::spawn_app;
use serde_json::json;

async fn a_partner_writing_about_the_pregnant_woman_is_escalated_and_a_husbands_fever_is_not() {
    let app = spawn_app().await;
    let wife = "minha esposa ta perdendo um liquido esverdeado, 35 semanas";
    let mut body = common::chat("gpt-echo", wife);
    body["metadata"] = json!({"conversation_id": "conv-wife"});
    let answer: serde_json::Value = app
        .post("/v1/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        format!("{}\n\necho: {wife}", common::notice("urgent", "pt-BR")),
        "{answer}"
    );
    assert_eq!(answer["powerbirth"]["guard"]["decision"], "escalate");

    let husband = "meu marido está com febre, posso pegar?";
    let mut body = common::chat("gpt-echo", husband);
    body["metadata"] = json!({"conversation_id": "conv-husband"});
    let answer: serde_json::Value = app
        .post("/v1/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        format!("echo: {husband}"),
        "no urgent notice for someone else's fever: {answer}"
    );

    app.settle().await;
    for (conversation, urgent) in [("conv-wife", true), ("conv-husband", false)] {
        let stored = app.conversation_messages(conversation).await;
        let user = stored.iter().find(|m| m.role == "user").unwrap();
        assert_eq!(user.urgent, urgent, "{conversation}");
    }
}
on_both_backends!(
    a_partner_writing_about_the_pregnant_woman_is_escalated_and_a_husbands_fever_is_not
);

async fn indirect_suicidal_thoughts_stream_the_crisis_notice_first() {
    let app = spawn_app().await;
    let sse = app
        .post_stream(
            "/v1/chat/completions",
            &common::chat("gpt-echo", "às vezes acho que seria melhor se eu sumisse"),
        )
        .await;
    let text = common::sse_text(&sse);
    assert!(
        text.starts_with(common::notice("crisis", "pt-BR").as_str()),
        "{text}"
    );
}
on_both_backends!(indirect_suicidal_thoughts_stream_the_crisis_notice_first);

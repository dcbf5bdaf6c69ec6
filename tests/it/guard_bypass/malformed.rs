//! Bypass 5: a malformed upstream answer is a clean 502 (or a stream error event), the
//! exchange logged and the budget reservation settled; never a panic.

use powerbirth::store::keys::Role;
use powerbirth::store::messages::MessageStatus;
use serde_json::{Value, json};

use super::app;

fn body(conversation: &str) -> Value {
    json!({"model": "gpt-bad-message", "metadata": {"conversation_id": conversation},
           "messages": [{"role": "user", "content": "quais frutas posso comer na gravidez?"}]})
}

#[tokio::test]
async fn a_message_that_is_not_an_object_is_a_502_logged_and_settled() {
    let app = app().await;
    let req = powerbirth::wire::ChatRequest::parse(body("c").to_string().as_bytes()).unwrap();
    // A budget of exactly one reservation: a reservation left behind would refuse the next call.
    let budget = app.metering.worst_case("gpt-bad-message", &req);
    let (record, key) = app
        .store
        .create_key_with_budget("budget-bad-message", Role::Client, None, Some(budget))
        .await
        .unwrap();
    let post = |b: Value| {
        let (http, url, key) = (
            app.http.clone(),
            app.url("/v1/chat/completions"),
            key.clone(),
        );
        async move {
            http.post(url)
                .bearer_auth(key)
                .json(&b)
                .send()
                .await
                .unwrap()
        }
    };
    let res = post(body("conv-bad")).await;
    assert_eq!(res.status(), 502);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["type"], "server_error", "{err}");
    assert_eq!(err["error"]["code"], "upstream_protocol_error", "{err}");

    let again =
        post(json!({"model": "gpt-bad-message", "messages": [{"role": "user", "content": "oi"}]}))
            .await;
    assert_eq!(
        again.status(),
        502,
        "the reservation was settled, not left behind"
    );

    app.settle().await;
    // Conversations are kept per key: this one is the budget key's.
    let scoped = powerbirth::core::ConversationId::scoped(&record.id, "conv-bad");
    let stored = app
        .store
        .conversation_messages(scoped.stored())
        .await
        .unwrap();
    let answer = stored.iter().find(|m| m.role == "assistant").unwrap();
    assert_eq!(answer.status, MessageStatus::Error);
    assert!(
        stored.iter().any(|m| m.role == "user"),
        "the exchange is logged"
    );
}

#[tokio::test]
async fn a_malformed_stream_chunk_ends_the_stream_with_an_error_event_and_is_logged() {
    let app = app().await;
    let sse = app
        .post_stream("/v1/chat/completions", &body("conv-bad-stream"))
        .await;
    assert!(sse.contains("\"error\""), "{sse}");
    assert!(sse.trim_end().ends_with("data: [DONE]"), "{sse}");
    app.settle().await;
    let stored = app.conversation_messages("conv-bad-stream").await;
    let answer = stored.iter().find(|m| m.role == "assistant").unwrap();
    assert_eq!(answer.status, MessageStatus::Error);
}

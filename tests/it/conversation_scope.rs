//! Conversation ids are scoped per API key (issue 14): two keys that send the same
//! `metadata.conversation_id` get two conversations. One key cannot append to the other's, its
//! turns are never stored, reviewed or queued as urgent with the other's, and each client still
//! sees only its own id.

use crate::common::{self, TestApp, on_both_backends, spawn_app};
use crate::urgent::{DANGER, PLAIN};

use powerbirth::store::keys::Role;
use serde_json::{Value, json};

/// `text` in conversation `conv`.
fn turn(text: &str, conv: &str) -> Value {
    let mut body = common::chat("gpt-echo", text);
    body["metadata"] = json!({ "conversation_id": conv });
    body
}

/// Sends `body` with the API key `key`; checks the 200 and returns the conversation id the
/// response shows.
async fn send_as(app: &TestApp, key: &str, body: &Value) -> String {
    let res = app
        .http
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.headers()["x-conversation-id"]
        .to_str()
        .unwrap()
        .to_string()
}

/// The user turns stored in the conversation filed under `stored_id`.
async fn user_turns(app: &TestApp, stored_id: &str) -> Vec<String> {
    let stored = app.store.conversation_messages(stored_id).await.unwrap();
    stored
        .into_iter()
        .filter(|m| m.role.as_str() == "user")
        .map(|m| m.content)
        .collect()
}

async fn two_keys_with_the_same_conversation_id_get_two_conversations() {
    let app = spawn_app().await;
    let (b, b_key) = app
        .store
        .create_key("client-b", Role::Client, None)
        .await
        .unwrap();

    // A starts "shared" with a danger sign; B then sends the same id, twice.
    let shown = send_as(&app, &app.client_key, &turn(DANGER, "shared")).await;
    assert_eq!(shown, "shared", "A sees its own id");
    let shown = send_as(&app, &b_key, &turn(PLAIN, "shared")).await;
    assert_eq!(
        shown, "shared",
        "B sees its own id, not A's nor a scoped one"
    );
    send_as(&app, &b_key, &turn("e o café?", "shared")).await;
    app.settle().await;

    let a_id = app.conversation("shared");
    let b_id = powerbirth::core::ConversationId::scoped(&b.id, "shared")
        .stored()
        .to_string();
    assert_ne!(a_id, b_id);
    assert_eq!(
        user_turns(&app, &a_id).await,
        [DANGER],
        "B never appends to A's"
    );
    assert_eq!(
        user_turns(&app, &b_id).await,
        [PLAIN, "e o café?"],
        "A's turn never appears in B's conversation"
    );
    assert!(
        app.store
            .conversation_messages("shared")
            .await
            .unwrap()
            .is_empty(),
        "nothing is filed under the bare client id"
    );

    // The nurses' queue holds two conversations: only A's is urgent.
    let now = powerbirth::core::now_ms();
    let queue = app
        .store
        .reviews()
        .candidates(now - 3_600_000, now + 60_000, "eval")
        .await
        .unwrap();
    let urgent_of = |id: &str| {
        queue
            .iter()
            .find(|c| c.conversation_id == id)
            .map(|c| c.urgent)
    };
    assert_eq!(
        urgent_of(&a_id),
        Some(true),
        "A's danger sign is queued urgent"
    );
    assert_eq!(
        urgent_of(&b_id),
        Some(false),
        "B's conversation is not made urgent by A's"
    );
}
on_both_backends!(two_keys_with_the_same_conversation_id_get_two_conversations);

async fn a_conversation_id_the_gateway_made_continues_when_sent_back() {
    let app = spawn_app().await;
    let made = send_as(&app, &app.client_key, &common::chat("gpt-echo", PLAIN)).await;
    send_as(&app, &app.client_key, &turn("e o café?", &made)).await;
    app.settle().await;
    assert_eq!(
        user_turns(&app, &app.conversation(&made)).await,
        [PLAIN, "e o café?"]
    );
}
on_both_backends!(a_conversation_id_the_gateway_made_continues_when_sent_back);

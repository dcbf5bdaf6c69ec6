//! Bypass 4: personal data leaves through no request field, and `store: true` is not forwarded
//! unless `[guard] allow_store = true`.

use serde_json::{Value, json};

use super::{app, app_with};

const EMAIL: &str = "ana.souza@example.org";
const CPF: &str = "529.982.247-25";

fn leaky(stream: bool) -> Value {
    json!({
        "model": "gpt-echo", "stream": stream, "store": true,
        "prompt": {"id": "assistant-general", "language": "pt-BR",
                   "variables": {"user_name": EMAIL, "gestational_week": 30}},
        "messages": [
            {"role": "user", "content": "oi", "name": EMAIL},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "save", "arguments": json!({"cpf": CPF}).to_string()}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
            {"role": "user", "content": "e agora?"}
        ],
        "tools": [{"type": "function", "function": {"name": "save",
            "description": format!("Salva dados de {EMAIL}"), "parameters": {"type": "object"}}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "r",
            "schema": {"type": "object", "description": format!("CPF {CPF}")}}},
        "prediction": {"type": "content", "content": format!("Olá {EMAIL}")}
    })
}

#[tokio::test]
async fn no_request_field_carries_personal_data_upstream_and_store_is_dropped() {
    let app = app().await;
    for stream in [false, true] {
        let res = app.post("/v1/chat/completions", &leaky(stream)).await;
        assert_eq!(res.status(), 200, "stream: {stream}");
        let _ = res.text().await;
    }
    let sent = app.upstream.requests();
    assert_eq!(sent.len(), 2);
    for r in sent {
        let text = r.body.to_string();
        for raw in [EMAIL, CPF, "52998224725"] {
            assert!(!text.contains(raw), "{raw} reached the upstream: {text}");
        }
        assert!(text.contains("[EMAIL]"), "{text}");
        assert!(r.body.get("store").is_none(), "store: true was forwarded");
    }
}

#[tokio::test]
async fn store_is_forwarded_only_when_the_operator_allows_it() {
    let app = app_with("[guard]\nallow_store = true\n").await;
    let res = app.post("/v1/chat/completions", &leaky(false)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.upstream.requests()[0].body["store"], true);
}

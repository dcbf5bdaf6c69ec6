//! What of a client's request may reach the upstream. Personal data is redacted from every
//! client-supplied string the upstream (or a rendered prompt) would see — message text and
//! `name`, tool-call arguments, `tools`, `response_format`, `prediction`, `prompt.variables`,
//! any other passed-through field — not only from the messages' text; `store: true` (which asks
//! the provider to keep the exchange) is dropped unless `[guard] allow_store = true`; and the
//! options whose answer the output guard cannot check (`logprobs`, `top_logprobs`: every
//! original token, doses and personal data included) are refused with a 400.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::wire::ChatRequest;

/// Refuses what the output guard cannot check: `logprobs: true` and `top_logprobs` return every
/// token the model produced, before any redaction or replacement.
pub(super) fn refuse_unguardable(request: &ChatRequest) -> Result<(), ApiError> {
    let asked = |key: &str| {
        request
            .extra
            .get(key)
            .is_some_and(|v| !v.is_null() && *v != Value::Bool(false))
    };
    for param in ["logprobs", "top_logprobs"] {
        if asked(param) {
            return Err(ApiError::invalid(
                param,
                format!(
                    "'{param}' is not available through this gateway: token log-probabilities \
                     would bypass its safety checks (doses, personal data). Remove '{param}'."
                ),
            ));
        }
    }
    Ok(())
}

/// Redacts personal data from every client-supplied string besides the messages' text (which
/// [`ChatRequest::redact_with`] covers): each message's other fields, the passed-through request
/// fields, and the prompt's variables; and drops `store: true` unless `allow_store`.
pub(super) fn redact_client_fields(
    request: &mut ChatRequest,
    allow_store: bool,
    redact: &impl Fn(&str) -> Option<String>,
) {
    if !allow_store && request.extra.get("store") == Some(&Value::Bool(true)) {
        request.extra.remove("store");
    }
    redact_map(&mut request.extra, redact);
    for m in &mut request.messages {
        redact_map(&mut m.extra, redact);
    }
    if let Some(prompt) = &mut request.prompt {
        redact_map(&mut prompt.variables, redact);
    }
}

fn redact_map(map: &mut Map<String, Value>, redact: &impl Fn(&str) -> Option<String>) {
    for v in map.values_mut() {
        redact_value(v, redact);
    }
}

/// Every string inside `v` (object values, array items), redacted in place. Object keys are
/// left alone: they are field names, not what the client says.
fn redact_value(v: &mut Value, redact: &impl Fn(&str) -> Option<String>) {
    match v {
        Value::String(s) => {
            if let Some(r) = redact(s) {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_value(i, redact)),
        Value::Object(map) => redact_map(map, redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(s: &str) -> Option<String> {
        s.contains("ana@x.org")
            .then(|| s.replace("ana@x.org", "[EMAIL]"))
    }

    #[test]
    fn every_passed_through_string_is_redacted_and_store_is_dropped() {
        let mut req = ChatRequest::parse(
            serde_json::json!({"model":"m","store":true,
                "messages":[{"role":"user","content":"oi","name":"ana@x.org"}],
                "tools":[{"type":"function","function":{"name":"f","description":"ana@x.org"}}],
                "prompt":{"id":"p","variables":{"user_name":"ana@x.org"}}})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        redact_client_fields(&mut req, false, &redact);
        let out = serde_json::to_string(&req).unwrap();
        assert!(!out.contains("ana@x.org"), "{out}");
        assert!(!out.contains("\"store\""), "{out}");
        assert_eq!(
            req.prompt.unwrap().variables["user_name"],
            Value::String("[EMAIL]".into())
        );
    }

    #[test]
    fn logprobs_are_refused_and_false_is_fine() {
        let parse = |v: Value| ChatRequest::parse(v.to_string().as_bytes()).unwrap();
        let msgs = serde_json::json!([{"role":"user","content":"oi"}]);
        let ok = parse(serde_json::json!({"model":"m","messages":msgs,"logprobs":false}));
        assert!(refuse_unguardable(&ok).is_ok());
        let bad = parse(serde_json::json!({"model":"m","messages":msgs,"top_logprobs":2}));
        let e = refuse_unguardable(&bad).unwrap_err();
        assert_eq!(e.status(), 400);
    }
}

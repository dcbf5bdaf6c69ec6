//! OpenAI's error body, `{"error":{"message","type","param","code"}}`, as every error answer and
//! every mid-stream error event carries it.

use serde::Serialize;

#[derive(Serialize)]
struct Body<'a> {
    error: ErrorObject<'a>,
}

/// OpenAI's error object.
#[derive(Serialize)]
struct ErrorObject<'a> {
    message: &'a str,
    r#type: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

/// The error body as JSON text.
pub fn error_body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> String {
    let body = Body {
        error: ErrorObject {
            message,
            r#type: kind,
            param,
            code,
        },
    };
    serde_json::to_string(&body).unwrap_or_else(|_| {
        r#"{"error":{"message":"error","type":"server_error","param":null,"code":null}}"#.into()
    })
}

//! The OpenAI wire format, and nothing else of the gateway: the chat request as clients send it
//! (`ChatRequest`, `ChatMessage`, `Role`, `Content`, `Stop`, `StreamOptions`, the `prompt`
//! extension), token `Usage`, the OpenAI error body, and the one place that builds every
//! `chat.completion` body and `chat.completion.chunk` the gateway sends or makes up. A leaf: it
//! imports nothing of the crate, so providers, metering and the pipeline can all speak it.
//! Reference: <https://platform.openai.com/docs/api-reference/chat>.

mod completion;
mod error;
mod message;
mod prompt;
mod request;
mod usage;

pub use completion::{
    Author, Delta, Head, SSE_DONE, completion_id, sse_frame, with_delta_text, with_extension,
};
pub use error::error_body;
pub use message::{ChatMessage, Content, Role};
pub use prompt::PromptSelector;
pub use request::{ChatRequest, RequestError, Stop, StreamOptions};
pub use usage::{CompletionTokensDetails, PromptTokensDetails, Usage};

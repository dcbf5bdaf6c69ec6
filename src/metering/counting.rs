//! Token counting when the provider gives no `usage`, and for the prompt side of a budget
//! reservation (which must be known before the call). Each model counts with its own tokenizer:
//! the `tokenizer` file configured on an OpenAI-compatible model (a Hugging Face
//! `tokenizer.json`), or the local model's own. Tokenizers are loaded once, at start-up.
//!
//! Chat framing follows OpenAI's published recipe ("How to count tokens with tiktoken",
//! <https://cookbook.openai.com/examples/how_to_count_tokens_with_tiktoken>): every message costs
//! 3 tokens besides its role and content (4 with a `name`), and every reply is primed with 3.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::providers::local::LocalModel;
use crate::wire::ChatRequest;

use super::cost::TokensSource;

/// Framing tokens per message.
const TOKENS_PER_MESSAGE: u64 = 3;
/// Extra framing when a message carries a `name`.
const TOKENS_PER_NAME: u64 = 1;
/// Every reply is primed with `<|start|>assistant<|message|>`.
const REPLY_PRIMING: u64 = 3;
/// Bytes per token when no tokenizer is available (a usual average for English and Portuguese
/// with byte-level BPE vocabularies).
const BYTES_PER_TOKEN_ESTIMATE: u64 = 4;

/// How one model's tokens are counted.
#[derive(Clone)]
pub enum TokenCounter {
    /// A Hugging Face tokenizer, loaded from the model's configured `tokenizer` file.
    Tokenizer(Arc<tokenizers::Tokenizer>),
    /// The local model's own tokenizer.
    Local(LocalModel),
    /// No tokenizer configured: lengths are estimated (see [`TokensSource::Estimated`]).
    Estimate,
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenCounter::Tokenizer(_) => "TokenCounter::Tokenizer",
            TokenCounter::Local(_) => "TokenCounter::Local",
            TokenCounter::Estimate => "TokenCounter::Estimate",
        })
    }
}

impl TokenCounter {
    /// Loads a `tokenizer.json` (slow: start-up only).
    pub fn from_file(path: &Path) -> anyhow::Result<TokenCounter> {
        let tokenizer = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("cannot load the tokenizer {}", path.display()))?;
        Ok(TokenCounter::Tokenizer(Arc::new(tokenizer)))
    }

    /// A counter over an already built tokenizer.
    pub fn from_tokenizer(tokenizer: tokenizers::Tokenizer) -> TokenCounter {
        TokenCounter::Tokenizer(Arc::new(tokenizer))
    }

    /// What measurements made by this counter are recorded as.
    pub fn source(&self) -> TokensSource {
        match self {
            TokenCounter::Estimate => TokensSource::Estimated,
            _ => TokensSource::Counted,
        }
    }

    /// Tokens of `text` alone (no special tokens added).
    pub fn text(&self, text: &str) -> u64 {
        if text.is_empty() {
            return 0;
        }
        match self {
            TokenCounter::Tokenizer(t) => match t.encode(text, false) {
                Ok(encoding) => encoding.len() as u64,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot tokenize text; counting bytes instead");
                    text.len() as u64
                }
            },
            TokenCounter::Local(m) => m.count_tokens(text) as u64,
            TokenCounter::Estimate => (text.len() as u64).div_ceil(BYTES_PER_TOKEN_ESTIMATE),
        }
    }

    /// An upper bound of the tokens of `text`: exact with a tokenizer, else its byte length
    /// (byte-level BPE never makes a token of less than one byte). Used for reservations,
    /// which must not under-estimate.
    fn text_upper_bound(&self, text: &str) -> u64 {
        match self {
            TokenCounter::Estimate => text.len() as u64,
            _ => self.text(text),
        }
    }

    /// Prompt tokens of a chat request as the upstream will bill them: messages with their
    /// framing, plus tool and function definitions (serialised as sent).
    pub fn prompt(&self, req: &ChatRequest) -> u64 {
        self.prompt_with(req, |t| self.text(t))
    }

    /// As [`TokenCounter::prompt`], never below the real count (for reservations).
    pub fn prompt_upper_bound(&self, req: &ChatRequest) -> u64 {
        self.prompt_with(req, |t| self.text_upper_bound(t))
    }

    fn prompt_with(&self, req: &ChatRequest, count: impl Fn(&str) -> u64) -> u64 {
        let mut total = REPLY_PRIMING;
        for m in &req.messages {
            total += TOKENS_PER_MESSAGE + count(m.role.as_str()) + count(&m.text());
            if let Some(name) = m.extra.get("name").and_then(|n| n.as_str()) {
                total += TOKENS_PER_NAME + count(name);
            }
            // Tool calls an assistant made are part of the history the upstream reads.
            if let Some(calls) = m.extra.get("tool_calls").filter(|v| !v.is_null()) {
                total += count(&calls.to_string());
            }
        }
        for key in ["tools", "functions"] {
            if let Some(defs) = req.extra.get(key).filter(|v| !v.is_null()) {
                total += count(&defs.to_string());
            }
        }
        total
    }

    /// Tokens of an answer's text.
    pub fn answer(&self, text: &str) -> u64 {
        self.text(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::Whitespace;

    /// A word-level tokenizer: one token per known word, `[UNK]` for others.
    pub(crate) fn words() -> TokenCounter {
        let vocab: HashMap<String, u32> = [
            "[UNK]",
            "user",
            "assistant",
            "system",
            "oi",
            "tudo",
            "bem",
            "?",
        ]
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), i as u32))
        .collect();
        let model = WordLevel::builder()
            .vocab(vocab.into_iter().collect())
            .unk_token("[UNK]".into())
            .build()
            .unwrap();
        let mut t = tokenizers::Tokenizer::new(model);
        t.with_pre_tokenizer(Some(Whitespace {}));
        TokenCounter::from_tokenizer(t)
    }

    fn request(body: serde_json::Value) -> ChatRequest {
        ChatRequest::parse(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_tokenizer_counts_each_word_it_splits() {
        let c = words();
        assert_eq!(c.text("oi tudo bem?"), 4);
        assert_eq!(c.answer(""), 0);
        assert_eq!(c.source(), TokensSource::Counted);
    }

    #[test]
    fn a_prompt_counts_messages_with_their_framing_and_the_reply_priming() {
        let c = words();
        let req = request(serde_json::json!({"model": "m", "messages": [
            {"role": "system", "content": "oi"},
            {"role": "user", "content": "tudo bem?"}
        ]}));
        // priming 3 + (3 + role 1 + 1) + (3 + role 1 + 3)
        assert_eq!(c.prompt(&req), 3 + 5 + 7);
        assert_eq!(c.prompt_upper_bound(&req), c.prompt(&req));
    }

    #[test]
    fn tool_definitions_count_towards_the_prompt() {
        let c = words();
        let plain = request(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "oi"}]}),
        );
        let with_tools = request(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "oi"}],
            "tools": [{"type": "function", "function": {"name": "dose"}}]}),
        );
        assert!(c.prompt(&with_tools) > c.prompt(&plain));
    }

    #[test]
    fn without_a_tokenizer_counts_are_estimates_and_reservations_use_bytes() {
        let c = TokenCounter::Estimate;
        assert_eq!(c.source(), TokensSource::Estimated);
        assert_eq!(c.text("abcdefghi"), 3);
        let req = request(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "abcdefghijkl"}]}),
        );
        assert_eq!(c.prompt_upper_bound(&req), 3 + 3 + 4 + 12);
        assert!(c.prompt_upper_bound(&req) >= c.prompt(&req));
    }
}

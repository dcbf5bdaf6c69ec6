//! The closed sets of values that message columns hold as text: each an enum, written as the
//! same text as before and parsed once when a row is read.

use std::fmt;
use std::str::FromStr;

/// Where a message's token counts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokensSource {
    /// The provider's `usage` object (the local model reports its own, exactly).
    Upstream,
    /// Counted by the gateway with the model's tokenizer.
    Counted,
    /// No usage and no tokenizer configured for the model: estimated from the text length
    /// (about four bytes per token). Configure `tokenizer` on the model to avoid it.
    Estimated,
}

impl TokensSource {
    /// `"upstream"`, `"counted"` or `"estimated"`, as stored in `messages.tokens_source`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokensSource::Upstream => "upstream",
            TokensSource::Counted => "counted",
            TokensSource::Estimated => "estimated",
        }
    }
}

impl FromStr for TokensSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "upstream" => Ok(TokensSource::Upstream),
            "counted" => Ok(TokensSource::Counted),
            "estimated" => Ok(TokensSource::Estimated),
            other => Err(format!("unknown tokens_source {other:?}")),
        }
    }
}

impl fmt::Display for TokensSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

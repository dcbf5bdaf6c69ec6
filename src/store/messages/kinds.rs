//! The closed sets of values that message columns hold as text: each an enum, written as the
//! same text as before and parsed once when a row is read.

use std::fmt;
use std::str::FromStr;

/// Where a message's token counts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// Generates a text-backed enum's `as_str`, `FromStr`, `Display`, and comparisons with its text
/// (so `m.status == "ok"` reads as the column does).
macro_rules! text_enum {
    ($name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            /// The text stored in the column.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(concat!("unknown ", $what, " {:?}"), other)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

/// How the exchange that logged a message ended (`messages.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MessageStatus {
    /// Answered (streamed or not).
    #[default]
    Ok,
    /// Failed: the upstream or the gateway returned an error.
    Error,
    /// The client left before a streamed answer ended.
    ClientClosed,
    /// The guard answered itself; no model was called.
    Blocked,
}

text_enum!(MessageStatus, "message status", {
    Ok => "ok",
    Error => "error",
    ClientClosed => "client_closed",
    Blocked => "blocked",
});

/// Who wrote a message (`messages.role`): the OpenAI chat roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageRole {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

text_enum!(MessageRole, "message role", {
    System => "system",
    Developer => "developer",
    User => "user",
    Assistant => "assistant",
    Tool => "tool",
    Function => "function",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_roles_are_stored_as_their_text_and_read_back() {
        for s in ["ok", "error", "client_closed", "blocked"] {
            assert_eq!(s.parse::<MessageStatus>().unwrap().as_str(), s);
        }
        for r in [
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
            "function",
        ] {
            assert_eq!(r.parse::<MessageRole>().unwrap().to_string(), r);
        }
        assert!("done".parse::<MessageStatus>().is_err());
        assert_eq!(MessageRole::User, "user");
        assert_eq!(MessageStatus::default(), MessageStatus::Ok);
    }
}

//! The assertion kinds: one table that says, for each kind, its name in sets, the argument it
//! takes, whether its result carries a score, and whether it reads the case's reference. Adding
//! a kind is one row here; the compiler then points at `Check::parse` and `Check::evaluate`.

use std::fmt;

/// What the argument of a kind is, and so which keys its table may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Takes {
    /// A string `value`.
    Value,
    /// A numeric `threshold`.
    Threshold,
    /// No key but `type`.
    Nothing,
    /// A `rubric` name and a `threshold`.
    Rubric,
}

impl Takes {
    /// The keys a table of this kind may hold.
    pub(super) fn keys(self) -> &'static [&'static str] {
        match self {
            Takes::Value => &["type", "value"],
            Takes::Threshold => &["type", "threshold"],
            Takes::Nothing => &["type"],
            Takes::Rubric => &["type", "rubric", "threshold"],
        }
    }

    /// The argument, as the error for a misplaced key names it.
    pub(super) fn wanted(self) -> &'static str {
        match self {
            Takes::Value => "`value`",
            Takes::Threshold => "`threshold`",
            Takes::Nothing => "no argument",
            Takes::Rubric => "`rubric` and `threshold`",
        }
    }
}

/// Generates [`Kind`], [`Kind::ALL`] (the declaration order is the order error messages list
/// the kinds in) and the per-kind facts from one row per kind.
macro_rules! kinds {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal, $takes:ident,
        scored: $scored:literal, reference: $reference:literal;)*) => {
        /// An assertion kind, named in sets by `type = "…"`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Kind {
            /// Every kind, in the order sets' error messages list them.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)*];

            /// The name written in sets (`type = "…"`) and in reports.
            pub fn name(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }

            /// What the kind's argument is.
            pub(super) fn takes(self) -> Takes {
                match self {
                    $(Kind::$variant => Takes::$takes,)*
                }
            }

            /// Whether its results carry a score (and so an aggregate mean and a tolerance).
            pub fn is_scored(self) -> bool {
                match self {
                    $(Kind::$variant => $scored,)*
                }
            }

            /// Whether it compares the answer with the case's `reference`.
            pub fn needs_reference(self) -> bool {
                match self {
                    $(Kind::$variant => $reference,)*
                }
            }
        }
    };
}

kinds! {
    /// Exact substring.
    Contains => "contains", Value, scored: false, reference: false;
    /// Case-insensitive substring.
    IContains => "icontains", Value, scored: false, reference: false;
    /// Case-insensitive: must not appear at all.
    NotContains => "not-contains", Value, scored: false, reference: false;
    Regex => "regex", Value, scored: false, reference: false;
    Language => "language", Value, scored: false, reference: false;
    Escalated => "escalated", Nothing, scored: false, reference: false;
    Blocked => "blocked", Nothing, scored: false, reference: false;
    NotEscalated => "not-escalated", Nothing, scored: false, reference: false;
    NotBlocked => "not-blocked", Nothing, scored: false, reference: false;
    MaxTokens => "max-tokens", Threshold, scored: true, reference: false;
    MaxCostUsd => "max-cost-usd", Threshold, scored: true, reference: false;
    MaxLatencyMs => "max-latency-ms", Threshold, scored: true, reference: false;
    Bleu => "bleu", Threshold, scored: true, reference: true;
    Chrf => "chrf", Threshold, scored: true, reference: true;
    RougeL => "rouge-l", Threshold, scored: true, reference: true;
    Similarity => "similarity", Threshold, scored: true, reference: true;
    Perplexity => "perplexity", Threshold, scored: true, reference: false;
    Judge => "judge", Rubric, scored: true, reference: false;
}

impl Kind {
    /// The kind named `name` in a set, if there is one.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_found_by_its_name() {
        for &kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(Kind::from_name("nope"), None);
    }
}

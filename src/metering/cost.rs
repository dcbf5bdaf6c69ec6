//! Prices and cost: [`UsdCost`], the decimal USD amount that every cost in the gateway is, and
//! [`cost_of`], price × tokens with no rounding at all.
//!
//! Billing follows OpenAI's usage object
//! (<https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage>):
//! `prompt_tokens` already includes `prompt_tokens_details.cached_tokens`, and `completion_tokens`
//! already includes `completion_tokens_details.reasoning_tokens`. So cached tokens are billed at
//! the cached price *instead of* the input price, and reasoning tokens are billed as output once,
//! inside `completion_tokens`, never on top of it.

use std::fmt;
use std::iter::Sum;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::providers::Price;

/// Prices are per this many tokens.
const TOKENS_PER_PRICE_UNIT: u64 = 1_000_000;

/// Nano-USD per USD: the integer unit of the shared (Redis) budget counters.
const NANOS_PER_USD: u64 = 1_000_000_000;

/// An amount in US dollars: exact decimal, never negative.
///
/// Displayed (and serialised) as a plain decimal string without trailing zeros
/// (`"0.0000123"`), which is also how it is stored on SQLite; PostgreSQL stores it as `NUMERIC`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UsdCost(Decimal);

/// Why a text is not a [`UsdCost`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    #[error("{0:?} is not a decimal number of US dollars")]
    NotADecimal(String),
    #[error("{0:?} is negative; an amount of USD here is never negative")]
    Negative(String),
}

impl UsdCost {
    /// Zero dollars.
    pub const ZERO: UsdCost = UsdCost(Decimal::ZERO);

    /// The amount, if not negative.
    pub fn new(amount: Decimal) -> Result<UsdCost, CostError> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(CostError::Negative(amount.to_string()));
        }
        // `-0` would display as "-0": store the plain zero.
        Ok(UsdCost(if amount.is_zero() {
            Decimal::ZERO
        } else {
            amount
        }))
    }

    /// The exact amount.
    pub fn amount(&self) -> Decimal {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// Sum of two amounts (saturating at the largest decimal, which no bill reaches).
    pub fn plus(self, other: UsdCost) -> UsdCost {
        UsdCost(self.0.checked_add(other.0).unwrap_or(Decimal::MAX))
    }

    /// The amount less `other`, or zero when `other` is larger.
    pub fn saturating_minus(self, other: UsdCost) -> UsdCost {
        UsdCost((self.0 - other.0).max(Decimal::ZERO))
    }

    /// Whole nano-USD, rounded up: what a reservation or a spend takes from a shared budget
    /// counter (rounding up keeps the counter on the safe side).
    pub fn to_nanos_ceil(&self) -> i64 {
        (self.0 * Decimal::from(NANOS_PER_USD))
            .ceil()
            .to_i64()
            .unwrap_or(i64::MAX)
    }

    /// Whole nano-USD, rounded down: a budget limit in counter units (rounding down keeps it
    /// on the safe side).
    pub fn to_nanos_floor(&self) -> i64 {
        (self.0 * Decimal::from(NANOS_PER_USD))
            .floor()
            .to_i64()
            .unwrap_or(i64::MAX)
    }

    /// An amount of whole nano-USD.
    pub fn from_nanos(nanos: i64) -> UsdCost {
        UsdCost(Decimal::new(nanos.max(0), 9).normalize())
    }
}

impl FromStr for UsdCost {
    type Err = CostError;
    fn from_str(s: &str) -> Result<UsdCost, CostError> {
        let text = s.trim();
        let amount =
            Decimal::from_str_exact(text).map_err(|_| CostError::NotADecimal(s.to_string()))?;
        UsdCost::new(amount).map_err(|_| CostError::Negative(s.to_string()))
    }
}

impl fmt::Display for UsdCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.normalize(), f)
    }
}

impl Serialize for UsdCost {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UsdCost {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<UsdCost, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Sum for UsdCost {
    fn sum<I: Iterator<Item = UsdCost>>(iter: I) -> UsdCost {
        iter.fold(UsdCost::ZERO, UsdCost::plus)
    }
}

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

/// The tokens of one answer, in OpenAI's sense: `input` includes `cached_input`, `output`
/// includes `reasoning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCounts {
    /// Prompt tokens, cached ones included (`usage.prompt_tokens`).
    pub input: u64,
    /// Completion tokens, reasoning ones included (`usage.completion_tokens`).
    pub output: u64,
    /// Of `input`, those served from the provider's prompt cache.
    pub cached_input: u64,
    /// Of `output`, those spent on hidden reasoning.
    pub reasoning: u64,
    pub source: TokensSource,
}

/// price × tokens / 1M, exactly: `(input − cached) × input_price + cached × cached_input_price
/// (the input price when none is configured) + output × output_price`. Reasoning tokens are
/// inside `output` and are not added again. A `Free` model costs zero.
pub fn cost_of(price: &Price, tokens: &TokenCounts) -> UsdCost {
    let Price::PerMillion {
        input,
        output,
        cached_input,
    } = price
    else {
        return UsdCost::ZERO;
    };
    let cached = tokens.cached_input.min(tokens.input);
    let uncached = tokens.input - cached;
    let cached_price = cached_input.unwrap_or(*input);
    let per_million = [
        (uncached, *input),
        (cached, cached_price),
        (tokens.output, *output),
    ]
    .into_iter()
    .try_fold(Decimal::ZERO, |acc, (n, p)| {
        Decimal::from(n)
            .checked_mul(p)
            .and_then(|v| acc.checked_add(v))
    });
    per_million
        .and_then(|d| d.checked_div(Decimal::from(TOKENS_PER_PRICE_UNIT)))
        .and_then(|d| UsdCost::new(d).ok())
        .unwrap_or(UsdCost(Decimal::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(input: &str, output: &str, cached: Option<&str>) -> Price {
        Price::PerMillion {
            input: input.parse().unwrap(),
            output: output.parse().unwrap(),
            cached_input: cached.map(|c| c.parse().unwrap()),
        }
    }

    fn tokens(input: u64, output: u64, cached_input: u64, reasoning: u64) -> TokenCounts {
        TokenCounts {
            input,
            output,
            cached_input,
            reasoning,
            source: TokensSource::Upstream,
        }
    }

    fn usd(s: &str) -> UsdCost {
        s.parse().unwrap()
    }

    #[test]
    fn cost_is_price_times_tokens_to_the_last_decimal() {
        let p = price("0.15", "0.60", None);
        // 11 × 0.15 / 1M + 7 × 0.60 / 1M = 0.00000165 + 0.0000042
        assert_eq!(cost_of(&p, &tokens(11, 7, 0, 0)), usd("0.00000585"));
        assert_eq!(cost_of(&p, &tokens(1, 0, 0, 0)), usd("0.00000015"));
        assert_eq!(
            cost_of(&p, &tokens(1_000_000, 1_000_000, 0, 0)),
            usd("0.75")
        );
    }

    #[test]
    fn cached_prompt_tokens_are_billed_at_the_cached_price_instead_of_the_input_price() {
        let p = price("2.50", "10.00", Some("1.25"));
        // (1000 − 600) × 2.50 + 600 × 1.25 + 50 × 10 = 1000 + 750 + 500 = 2250 per 1M
        assert_eq!(cost_of(&p, &tokens(1000, 50, 600, 0)), usd("0.00225"));
    }

    #[test]
    fn cached_tokens_cost_the_input_price_when_no_cached_price_is_configured() {
        let p = price("2.50", "10.00", None);
        assert_eq!(
            cost_of(&p, &tokens(1000, 50, 600, 0)),
            cost_of(&p, &tokens(1000, 50, 0, 0))
        );
    }

    #[test]
    fn reasoning_tokens_are_output_tokens_and_are_not_billed_twice() {
        let p = price("1.10", "4.40", Some("0.275"));
        // completion_tokens = 500 already holds the 320 reasoning tokens.
        let with_reasoning = cost_of(&p, &tokens(200, 500, 0, 320));
        assert_eq!(with_reasoning, cost_of(&p, &tokens(200, 500, 0, 0)));
        assert_eq!(with_reasoning, usd("0.00242"));
    }

    #[test]
    fn more_cached_tokens_than_prompt_tokens_never_bill_a_negative_remainder() {
        let p = price("1", "1", Some("0.5"));
        assert_eq!(cost_of(&p, &tokens(10, 0, 50, 0)), usd("0.000005"));
    }

    #[test]
    fn tiny_prices_keep_every_decimal() {
        let p = price("0.000000000001", "0.000123456789012", None);
        assert_eq!(
            cost_of(&p, &tokens(3, 1, 0, 0)),
            usd("0.000000000123456792012")
        );
    }

    #[test]
    fn a_free_model_costs_nothing() {
        assert_eq!(
            cost_of(&Price::Free, &tokens(10_000, 10_000, 0, 0)),
            UsdCost::ZERO
        );
    }

    #[test]
    fn amounts_parse_exactly_and_refuse_negatives_and_junk() {
        assert_eq!(usd("0.000000123456789012").amount().scale(), 18);
        assert_eq!(usd(" 5 ").to_string(), "5");
        assert!(matches!(
            "-1".parse::<UsdCost>(),
            Err(CostError::Negative(_))
        ));
        assert!(matches!(
            "abc".parse::<UsdCost>(),
            Err(CostError::NotADecimal(_))
        ));
        assert_eq!(usd("-0").to_string(), "0");
    }

    #[test]
    fn amounts_display_without_trailing_zeros_and_serialise_as_strings() {
        assert_eq!(usd("0.0012300").to_string(), "0.00123");
        assert_eq!(serde_json::to_string(&usd("1.50")).unwrap(), "\"1.5\"");
        let back: UsdCost = serde_json::from_str("\"0.1\"").unwrap();
        assert_eq!(back, usd("0.1"));
    }

    #[test]
    fn nano_conversions_round_towards_the_safe_side() {
        let c = usd("0.0000000011");
        assert_eq!(c.to_nanos_ceil(), 2);
        assert_eq!(c.to_nanos_floor(), 1);
        assert_eq!(UsdCost::from_nanos(1_500_000_000), usd("1.5"));
    }

    #[test]
    fn summing_costs_is_exact() {
        let total: UsdCost = ["0.1", "0.2", "0.000000000000000001"]
            .iter()
            .map(|s| usd(s))
            .sum();
        assert_eq!(total, usd("0.300000000000000001"));
    }
}

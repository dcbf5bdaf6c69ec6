//! Prices and cost: [`cost_of`], price × tokens with no rounding at all, as a
//! [`UsdCost`](crate::core::UsdCost).
//!
//! Billing follows OpenAI's usage object
//! (<https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage>):
//! `prompt_tokens` already includes `prompt_tokens_details.cached_tokens`, and `completion_tokens`
//! already includes `completion_tokens_details.reasoning_tokens`. So cached tokens are billed at
//! the cached price *instead of* the input price, and reasoning tokens are billed as output once,
//! inside `completion_tokens`, never on top of it.

use rust_decimal::Decimal;

use crate::core::UsdCost;
use crate::providers::Price;
pub use crate::store::messages::TokensSource;

/// Prices are per this many tokens.
const TOKENS_PER_PRICE_UNIT: u64 = 1_000_000;

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
        .unwrap_or(UsdCost::MAX)
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
}

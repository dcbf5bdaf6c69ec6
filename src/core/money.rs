//! [`UsdCost`]: the decimal USD amount that every cost in the gateway is, exact and never
//! negative. Prices and the cost of an answer are `metering`'s; the amount itself is shared by the
//! ledger, budgets, keys and eval reports.

use std::fmt;
use std::iter::Sum;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

    /// The largest amount: where a sum that overflows saturates (no bill reaches it).
    pub const MAX: UsdCost = UsdCost(Decimal::MAX);

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

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> UsdCost {
        s.parse().unwrap()
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

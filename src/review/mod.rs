//! Nurse review: weekly sampled batches of conversations (urgent ones first), nurse accounts and
//! the review pages, and the way reviewed conversations flow back into eval sets. See
//! `docs/review.md`.

pub mod accounts;
pub mod batches;
pub mod config;
pub mod export;
pub mod hashing;
pub mod items;
pub mod promote;
pub mod sample;
pub mod schedule;
pub mod stats;
pub mod web;

pub use config::{RawReviewConfig, ReviewConfig};

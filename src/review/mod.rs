//! Nurse review: weekly sampled batches of conversations (urgent ones first), nurse accounts and
//! the review pages, and the way reviewed conversations flow back into eval sets. See
//! `docs/review.md`.

pub mod config;

pub use config::{RawReviewConfig, ReviewConfig};

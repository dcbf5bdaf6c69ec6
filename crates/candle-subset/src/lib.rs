//! The part of candle-transformers 0.11.1 (MIT OR Apache-2.0, © the Candle developers,
//! <https://github.com/huggingface/candle>) that the gateway uses, vendored so that a build
//! compiles these files instead of every model architecture candle has. Every file but this one
//! and `models/mod.rs` is the upstream file unchanged; README.md says why and how to update.
#![allow(clippy::all)]

pub mod generation;
pub mod models;
pub mod quantized_nn;
pub mod quantized_var_builder;
pub mod utils;

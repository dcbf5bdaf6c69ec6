//! The upstream `models` module reduced to the two architectures the gateway runs (and the
//! layers they share).
pub mod bert;
pub mod quantized_llama;
pub mod with_tracing;

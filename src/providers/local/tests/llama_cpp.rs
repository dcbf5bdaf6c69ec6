//! The local model against llama.cpp on the same GGUF (issue 20, items 4 and 5): token ids of a
//! few hundred strings, and perplexities, from `tests/fixtures/llama/` (written by
//! `scripts/llama-reference.py` with the pinned llama-cpp-python; docs/testing.md).

use std::io::BufWriter;

use candle_core::quantized::{GgmlDType, QTensor};
use serde::Deserialize;

use super::super::{chat::ChatMl, tokenizer};
use super::*;

/// How far our mean negative log-likelihood (the log of the perplexity) may be from llama.cpp's
/// on the Q4_1 model, in nats. Both quantize the activations to Q8_1 for each matmul, but the
/// float32 kernels around them differ (summation order, SIMD `exp`, softmax and RMS norm), and a
/// one-ulp difference that moves an activation across a Q8_1 rounding step changes it by a whole
/// step. Measured (docs/testing.md): 0.002 to 0.03 on the multi-token cases, 0.09 on the
/// one-token case (one log-probability, no averaging).
const Q4_1_MEAN_NLL_TOLERANCE: f64 = 0.15;

/// Continuations longer than this are compared on the float32 copy only: candle's Q4_1 matmul
/// scores one token at a time slowly, and the long cases add test time, not coverage.
const Q4_1_MAX_SCORED_TOKENS: usize = 30;

/// The same bound on the float32 copy, where both sides run plain float32 matmuls: this is the
/// check that the model is computed the same way. Measured: at most 4e-6 (the one-token case),
/// under 1e-6 on most; 1e-4 leaves room for float32 summation orders, and a wrong position, mask
/// or norm moves the value by 1e-2 or more.
const F32_MEAN_NLL_TOLERANCE: f64 = 1e-4;

fn fixture<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/llama")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Deserialize)]
struct Tokens {
    strings: Vec<TokenCase>,
}

#[derive(Deserialize)]
struct TokenCase {
    text: String,
    /// Chat markers read as special tokens (`special=True`).
    special: Vec<u32>,
    /// Chat markers read as text (`special=False`).
    plain: Vec<u32>,
}

#[derive(Deserialize)]
struct Perplexities {
    cases: Vec<PerplexityCase>,
}

#[derive(Deserialize)]
struct PerplexityCase {
    name: String,
    context: Vec<Turn>,
    continuation: String,
    prompt_ids: Vec<u32>,
    target_ids: Vec<u32>,
    perplexity: f64,
    f32_perplexity: f64,
}

#[derive(Deserialize)]
struct Turn {
    role: String,
    content: String,
}

fn turns(context: &[Turn]) -> Vec<ChatTurn> {
    context
        .iter()
        .map(|t| ChatTurn {
            role: t.role.clone(),
            content: t.content.clone(),
        })
        .collect()
}

fn ids(tokenizer: &tokenizers::Tokenizer, text: &str) -> Vec<u32> {
    tokenizer
        .encode(text, false)
        .expect("encode")
        .get_ids()
        .to_vec()
}

#[test]
fn token_ids_equal_llama_cpp_on_every_fixture_string() {
    let Some(metadata) = gguf_metadata() else {
        return;
    };
    let full = tokenizer::from_gguf(&metadata).expect("tokenizer");
    let plain = tokenizer::plain_text(&full);
    let cases = fixture::<Tokens>("tokens.json").strings;
    assert!(cases.len() >= 300, "{} strings", cases.len());
    let mut mismatches = Vec::new();
    for case in &cases {
        for (what, ours, want) in [
            ("special", ids(&full, &case.text), &case.special),
            ("plain", ids(&plain, &case.text), &case.plain),
        ] {
            if &ours != want {
                mismatches.push(format!(
                    "{what} {:?}: ours {ours:?}, llama.cpp {want:?}",
                    case.text
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} encodings differ from llama.cpp:\n{}",
        mismatches.len(),
        2 * cases.len(),
        mismatches.join("\n")
    );
}

/// SmolLM2 with every tensor dequantized to float32, as `write_f32_copy` of
/// `scripts/llama-reference.py` makes it for llama.cpp; loaded once (~540 MB).
pub(in super::super) fn f32_model() -> Option<&'static LocalModel> {
    static MODEL: OnceLock<LocalModel> = OnceLock::new();
    let source = model_path()?;
    Some(MODEL.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let copy = dir.path().join("f32.gguf");
        write_f32_copy(&source, &copy).expect("write the float32 copy");
        LocalModel::load(&copy, LocalOptions::default()).expect("load the float32 copy")
    }))
}

fn write_f32_copy(source: &Path, target: &Path) -> candle_core::Result<()> {
    let mut file = File::open(source)?;
    let content = gguf_file::Content::read(&mut file)?;
    let mut tensors = Vec::new();
    for name in content.tensor_infos.keys() {
        let tensor = content.tensor(&mut file, name, &Device::Cpu)?;
        let dense = QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, GgmlDType::F32)?;
        tensors.push((name.as_str(), dense));
    }
    let metadata: Vec<(&str, &Value)> = content
        .metadata
        .iter()
        .map(|(key, value)| (key.as_str(), value))
        .collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut out = BufWriter::new(File::create(target)?);
    gguf_file::write(&mut out, &metadata, &tensors)?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}

/// `|ln ours − ln reference|`, the gap between mean negative log-likelihoods, in nats.
fn nll_gap(ours: f64, reference: f64) -> f64 {
    (ours.ln() - reference.ln()).abs()
}

#[test]
fn perplexity_equals_llama_cpp_within_the_tolerance() {
    let Some(model) = shared_model() else { return };
    let inner = &*model.inner;
    let mut failures = Vec::new();
    for case in fixture::<Perplexities>("perplexity.json").cases {
        let context = turns(&case.context);
        // The same tokens first (template, markers, no BOS), so the values compare like with like.
        let prompt = ChatMl::prompt_ids(&inner.chat, &inner.plain, &context).expect("prompt ids");
        assert_eq!(prompt, case.prompt_ids, "{}: prompt ids", case.name);
        assert_eq!(
            ids(&inner.plain, &case.continuation),
            case.target_ids,
            "{}: continuation ids",
            case.name
        );
        if case.target_ids.len() > Q4_1_MAX_SCORED_TOKENS {
            continue;
        }
        let ours = model
            .perplexity(&context, &case.continuation)
            .expect("perplexity");
        let gap = nll_gap(ours, case.perplexity);
        eprintln!(
            "{}: Q4_1 ours {ours:.6}, llama.cpp {:.6}, {gap:.2e} nats",
            case.name, case.perplexity
        );
        if gap > Q4_1_MEAN_NLL_TOLERANCE {
            failures.push(format!(
                "{}: ours {ours}, llama.cpp {}",
                case.name, case.perplexity
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_float32_copy_equals_llama_cpp_tightly() {
    let Some(model) = f32_model() else { return };
    let mut failures = Vec::new();
    for case in fixture::<Perplexities>("perplexity.json").cases {
        let ours = model
            .perplexity(&turns(&case.context), &case.continuation)
            .expect("perplexity");
        let gap = nll_gap(ours, case.f32_perplexity);
        eprintln!(
            "{}: f32 ours {ours:.6}, llama.cpp {:.6}, {gap:.2e} nats",
            case.name, case.f32_perplexity
        );
        if gap > F32_MEAN_NLL_TOLERANCE {
            failures.push(format!(
                "{}: ours {ours}, llama.cpp {}",
                case.name, case.f32_perplexity
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

//! Reference-based text metrics. BLEU and chrF equal sacreBLEU 2.x's defaults; ROUGE-L is the
//! LCS F-measure of rouge-score with a Unicode-aware tokenizer. Scales follow the references:
//! BLEU and chrF 0–100, ROUGE-L 0–1, similarity (cosine) −1–1.
//!
//! The string metrics are pure functions, cheap enough for the async runtime on eval-sized text.
//! [`similarity::Embedder`] runs a neural model and is CPU-bound. See `docs/metrics.md` for what
//! each number equals and how the reference values in `tests/fixtures/metrics/` are produced.

mod bleu;
mod chrf;
mod rouge;
pub mod similarity;

pub use similarity::{EmbedError, Embedder, cosine};

/// Sentence BLEU as sacreBLEU's `sentence_bleu` (13a tokenizer, `exp` smoothing, effective order).
///
/// 0 when `refs` is empty (sacreBLEU refuses that input).
pub fn sentence_bleu(hyp: &str, refs: &[&str]) -> f64 {
    bleu::sentence(hyp, refs)
}

/// Corpus BLEU as sacreBLEU's `corpus_bleu` (13a, `exp`, no effective order); one reference per
/// hypothesis.
///
/// Pairs are zipped as sacreBLEU does: extra hypotheses or references are ignored.
pub fn corpus_bleu(hyps: &[&str], refs: &[&str]) -> f64 {
    bleu::corpus(hyps, refs)
}

/// Sentence chrF (char order 6, word order 0, beta 2) as sacreBLEU's `sentence_chrf`.
///
/// With several references the best-scoring one counts; 0 when `refs` is empty.
pub fn sentence_chrf(hyp: &str, refs: &[&str]) -> f64 {
    chrf::sentence(hyp, refs)
}

/// Corpus chrF as sacreBLEU's `corpus_chrf`: statistics are summed over segments, then scored.
pub fn corpus_chrf(hyps: &[&str], refs: &[&str]) -> f64 {
    chrf::corpus(hyps, refs)
}

/// ROUGE-L F-measure (0–1) between a hypothesis and one reference.
///
/// rouge-score's `rougeL` without stemming, except that words keep their non-ASCII letters
/// (`saúde` is one token, where rouge-score would drop the `ú`); equal to rouge-score on ASCII.
pub fn rouge_l(hyp: &str, reference: &str) -> f64 {
    rouge::rouge_l(hyp, reference)
}

/// Whitespace as Python's `str.split()` sees it, which sacreBLEU uses to cut words and to drop
/// spaces before chrF: Unicode `White_Space` (Rust's definition) plus the four ASCII
/// information separators U+001C–U+001F.
fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The words of `text` as Python's `str.split()` returns them.
fn python_split(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_python_whitespace).filter(|w| !w.is_empty())
}

/// Reference values computed by `scripts/metrics-reference.py`, shared by the unit tests.
#[cfg(test)]
mod reference {
    use std::path::PathBuf;

    use serde::Deserialize;

    pub(super) const TOLERANCE: f64 = 1e-6;

    fn fixture(name: &str) -> String {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/metrics")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The fixture's segments, as `eval score` reads them.
    pub(super) fn segments(name: &str) -> Vec<String> {
        fixture(name).lines().map(str::to_owned).collect()
    }

    #[derive(Deserialize)]
    pub(super) struct Expected {
        pub bleu: MetricOutput,
        pub chrf: MetricOutput,
        #[serde(rename = "rouge-l")]
        pub rouge_l: MetricOutput,
        pub similarity: MetricOutput,
    }

    #[derive(Deserialize)]
    pub(super) struct MetricOutput {
        pub corpus: f64,
        pub segments: Vec<f64>,
    }

    #[derive(Deserialize)]
    pub(super) struct Cases {
        pub tokenize_13a: Vec<Tokenized>,
        pub sentence: Vec<SentenceCase>,
        pub corpus_single: Vec<CorpusCase>,
        pub rouge_english: Vec<RougeCase>,
        pub rouge_tokens: Vec<RougeTokens>,
        pub embeddings: Vec<Embedding>,
    }

    #[derive(Deserialize)]
    pub(super) struct Tokenized {
        pub text: String,
        pub tokens: String,
    }

    #[derive(Deserialize)]
    pub(super) struct SentenceCase {
        pub hyp: String,
        pub refs: Vec<String>,
        pub bleu: f64,
        pub chrf: f64,
    }

    #[derive(Deserialize)]
    pub(super) struct CorpusCase {
        pub hyp: String,
        #[serde(rename = "ref")]
        pub reference: String,
        pub bleu: f64,
        pub chrf: f64,
    }

    #[derive(Deserialize)]
    pub(super) struct RougeCase {
        pub hyp: String,
        #[serde(rename = "ref")]
        pub reference: String,
        pub rouge_l: f64,
    }

    #[derive(Deserialize)]
    pub(super) struct RougeTokens {
        pub text: String,
        pub tokens: Vec<String>,
    }

    #[derive(Deserialize)]
    pub(super) struct Embedding {
        pub text: String,
        pub vector: Vec<f64>,
    }

    pub(super) fn expected() -> Expected {
        serde_json::from_str(&fixture("expected.json")).expect("expected.json")
    }

    pub(super) fn cases() -> Cases {
        serde_json::from_str(&fixture("cases.json")).expect("cases.json")
    }

    /// Asserts `actual` is within [`TOLERANCE`] of `expected`, naming `what` when not.
    pub(super) fn assert_close(actual: f64, expected: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= TOLERANCE,
            "{what}: got {actual}, sacreBLEU/rouge-score give {expected}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_whitespace_includes_the_ascii_separators_rust_does_not() {
        let words: Vec<_> = python_split(" a\u{1c}b\u{a0}c\u{3000}d\t\n").collect();
        assert_eq!(words, ["a", "b", "c", "d"]);
        assert!(!'\u{1c}'.is_whitespace());
    }
}

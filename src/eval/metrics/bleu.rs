//! BLEU exactly as sacreBLEU 2.x computes it with its defaults: the `13a` tokenizer (mteval-v13a,
//! as used by WMT), n-grams up to 4, the brevity penalty against the closest reference length,
//! and `exp` smoothing (NIST's: the k-th order without any match gets precision
//! `100 / (2^k · total)` instead of 0). Sentence scores use the effective order (orders the segment is too short for are
//! left out), corpus scores do not.
//!
//! Source: <https://github.com/mjpost/sacrebleu> `sacrebleu/metrics/bleu.py`,
//! `sacrebleu/tokenizers/tokenizer_13a.py`, `tokenizer_re.py`.

use std::collections::HashMap;

use super::{is_python_whitespace, python_split};

const MAX_ORDER: usize = 4;

/// sacreBLEU's `log` for BLEU: a zero precision contributes a huge negative number instead of
/// `-inf`, so the score is exactly 0 (and never NaN).
fn my_log(x: f64) -> f64 {
    if x == 0.0 { -9_999_999_999.0 } else { x.ln() }
}

/// Sufficient statistics of one segment (or, summed, of a corpus).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Stats {
    hyp_len: usize,
    ref_len: usize,
    correct: [usize; MAX_ORDER],
    total: [usize; MAX_ORDER],
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        self.hyp_len += other.hyp_len;
        self.ref_len += other.ref_len;
        for n in 0..MAX_ORDER {
            self.correct[n] += other.correct[n];
            self.total[n] += other.total[n];
        }
    }
}

pub(super) fn sentence(hyp: &str, refs: &[&str]) -> f64 {
    if refs.is_empty() {
        return 0.0;
    }
    score(&segment_stats(hyp, refs), true)
}

pub(super) fn corpus(hyps: &[&str], refs: &[&str]) -> f64 {
    let mut sum = Stats::default();
    for (hyp, reference) in hyps.iter().zip(refs) {
        sum += segment_stats(hyp, &[reference]);
    }
    score(&sum, false)
}

/// Python's `str.rstrip()`, which sacreBLEU applies before tokenizing.
fn python_rstrip(text: &str) -> &str {
    text.trim_end_matches(is_python_whitespace)
}

/// Counts of every n-gram of order 1 to 4 (`extract_all_word_ngrams`).
fn ngrams<'a>(tokens: &'a [&'a str]) -> HashMap<&'a [&'a str], usize> {
    let mut counts = HashMap::new();
    for n in 1..=MAX_ORDER {
        for gram in tokens.windows(n) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

/// `_compute_segment_statistics`: hypothesis n-grams clipped by their highest count in any
/// reference; the reference length is the closest one (the shorter on a tie).
fn segment_stats(hyp: &str, refs: &[&str]) -> Stats {
    let hyp = tokenize_13a(python_rstrip(hyp));
    let hyp_tokens: Vec<&str> = python_split(&hyp).collect();
    let refs: Vec<String> = refs
        .iter()
        .map(|r| tokenize_13a(python_rstrip(r)))
        .collect();
    let ref_tokens: Vec<Vec<&str>> = refs.iter().map(|r| python_split(r).collect()).collect();

    let mut ref_max: HashMap<&[&str], usize> = HashMap::new();
    for tokens in &ref_tokens {
        for (gram, count) in ngrams(tokens) {
            let max = ref_max.entry(gram).or_insert(0);
            *max = (*max).max(count);
        }
    }
    let hyp_len = hyp_tokens.len();
    let mut closest: Option<(usize, usize)> = None; // (difference, length)
    for tokens in &ref_tokens {
        let len = tokens.len();
        let diff = hyp_len.abs_diff(len);
        closest = match closest {
            Some((d, l)) if d < diff || (d == diff && l <= len) => Some((d, l)),
            _ => Some((diff, len)),
        };
    }

    let mut stats = Stats {
        hyp_len,
        ref_len: closest.map_or(0, |(_, len)| len),
        ..Stats::default()
    };
    for (gram, count) in ngrams(&hyp_tokens) {
        let n = gram.len() - 1;
        stats.total[n] += count;
        if let Some(max) = ref_max.get(gram) {
            stats.correct[n] += count.min(*max);
        }
    }
    stats
}

/// `BLEU.compute_bleu` with `exp` smoothing; floating-point operations in sacreBLEU's order so
/// the result is bit-for-bit the same.
fn score(stats: &Stats, effective_order: bool) -> f64 {
    let sys_len = stats.hyp_len as f64;
    let ref_len = stats.ref_len as f64;
    let bp = if stats.hyp_len < stats.ref_len {
        if stats.hyp_len > 0 {
            (1.0 - ref_len / sys_len).exp()
        } else {
            0.0
        }
    } else {
        1.0
    };
    if stats.correct.iter().all(|&c| c == 0) {
        return 0.0;
    }

    let mut precisions = [0.0_f64; MAX_ORDER];
    let mut smooth_mteval = 1.0_f64;
    let mut eff_order = MAX_ORDER;
    for (n, precision) in precisions.iter_mut().enumerate() {
        let (correct, total) = (stats.correct[n] as f64, stats.total[n] as f64);
        if stats.total[n] == 0 {
            break;
        }
        if effective_order {
            eff_order = n + 1;
        }
        *precision = if stats.correct[n] == 0 {
            smooth_mteval *= 2.0;
            100.0 / (smooth_mteval * total)
        } else {
            100.0 * correct / total
        };
    }
    let log_sum = precisions[..eff_order]
        .iter()
        .fold(0.0, |sum, &p| sum + my_log(p));
    bp * (log_sum / eff_order as f64).exp()
}

/// sacreBLEU's `13a` tokenizer: drops `<skipped>`, joins lines, unescapes four HTML entities,
/// then splits punctuation off words (except `.` and `,` between digits, and `-` not after a
/// digit) and collapses whitespace. Returns the tokens joined by single spaces.
pub(super) fn tokenize_13a(line: &str) -> String {
    let mut line = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let padded: Vec<char> = format!(" {line} ").chars().collect();

    // r'([\{-\~\[-\` -\&\(-\+\:-\@\/])' -> r' \1 '
    let mut spaced = Vec::with_capacity(padded.len() * 2);
    for &c in &padded {
        if matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/') {
            spaced.extend([' ', c, ' ']);
        } else {
            spaced.push(c);
        }
    }
    let is_digit = |c: char| c.is_ascii_digit();
    let is_period_or_comma = |c: char| c == '.' || c == ',';
    // r'([^0-9])([\.,])' -> r'\1 \2 '
    let step = substitute_pairs(
        &spaced,
        |a, b| !is_digit(a) && is_period_or_comma(b),
        |a, b| [a, ' ', b, ' '],
    );
    // r'([\.,])([^0-9])' -> r' \1 \2'
    let step = substitute_pairs(
        &step,
        |a, b| is_period_or_comma(a) && !is_digit(b),
        |a, b| [' ', a, ' ', b],
    );
    // r'([0-9])(-)' -> r'\1 \2 '
    let step = substitute_pairs(
        &step,
        |a, b| is_digit(a) && b == '-',
        |a, b| [a, ' ', b, ' '],
    );

    let text: String = step.into_iter().collect();
    python_split(&text).collect::<Vec<_>>().join(" ")
}

/// Python's `re.sub` for a pattern of exactly two single-character classes: scans left to right
/// and, after a match, resumes after both characters (matches never overlap).
fn substitute_pairs(
    chars: &[char],
    matches: impl Fn(char, char) -> bool,
    replace: impl Fn(char, char) -> [char; 4],
) -> Vec<char> {
    let mut out = Vec::with_capacity(chars.len() + chars.len() / 2);
    let mut i = 0;
    while i < chars.len() {
        match chars.get(i + 1) {
            Some(&next) if matches(chars[i], next) => {
                out.extend(replace(chars[i], next));
                i += 2;
            }
            _ => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::reference::{assert_close, cases, expected, segments};
    use super::*;

    #[test]
    fn the_13a_tokenizer_splits_like_sacrebleu() {
        for case in cases().tokenize_13a {
            assert_eq!(
                tokenize_13a(python_rstrip(&case.text)),
                case.tokens,
                "{:?}",
                case.text
            );
        }
    }

    #[test]
    fn numbers_keep_their_decimal_marks_but_lose_slashes_and_dashes() {
        assert_eq!(
            tokenize_13a("PA 160/110, 3.5 e 12-15."),
            "PA 160 / 110 , 3.5 e 12 - 15 ."
        );
    }

    #[test]
    fn sentence_bleu_equals_sacrebleu_on_every_fixture_segment() {
        let (hyps, refs) = (segments("hyps.txt"), segments("refs.txt"));
        let expected = expected().bleu;
        assert_eq!(hyps.len(), expected.segments.len());
        for ((hyp, reference), want) in hyps.iter().zip(&refs).zip(&expected.segments) {
            assert_close(sentence(hyp, &[reference]), *want, hyp);
        }
    }

    #[test]
    fn corpus_bleu_equals_sacrebleu_on_the_fixture() {
        let (hyps, refs) = (segments("hyps.txt"), segments("refs.txt"));
        let hyps: Vec<&str> = hyps.iter().map(String::as_str).collect();
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        assert_close(corpus(&hyps, &refs), expected().bleu.corpus, "corpus");
    }

    #[test]
    fn sentence_bleu_with_several_references_or_odd_whitespace_equals_sacrebleu() {
        for case in cases().sentence {
            let refs: Vec<&str> = case.refs.iter().map(String::as_str).collect();
            assert_close(sentence(&case.hyp, &refs), case.bleu, &case.hyp);
        }
    }

    #[test]
    fn a_one_segment_corpus_has_no_effective_order_as_in_sacrebleu() {
        for case in cases().corpus_single {
            assert_close(
                corpus(&[&case.hyp], &[&case.reference]),
                case.bleu,
                &case.hyp,
            );
        }
        // Three words have no 4-gram: the corpus score is 0 where the sentence score is 100.
        assert_eq!(corpus(&["a b c"], &["a b c"]), 0.0);
        assert!((sentence("a b c", &["a b c"]) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn no_reference_scores_zero() {
        assert_eq!(sentence("anything", &[]), 0.0);
        assert_eq!(corpus(&[], &[]), 0.0);
    }
}

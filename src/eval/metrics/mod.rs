//! Reference-based text metrics. BLEU and chrF equal sacreBLEU 2.x's defaults; ROUGE-L is the
//! LCS F-measure of rouge-score with a Unicode-aware tokenizer. Scales follow the references:
//! BLEU and chrF 0–100, ROUGE-L 0–1, similarity (cosine) −1–1.

/// Sentence BLEU as sacreBLEU's `sentence_bleu` (13a tokenizer, `exp` smoothing, effective order).
pub fn sentence_bleu(_hyp: &str, _refs: &[&str]) -> f64 {
    todo!("eval-metrics helper")
}

/// Corpus BLEU as sacreBLEU's `corpus_bleu` (13a, `exp`, no effective order); one reference per
/// hypothesis.
pub fn corpus_bleu(_hyps: &[&str], _refs: &[&str]) -> f64 {
    todo!("eval-metrics helper")
}

/// Sentence chrF (char order 6, word order 0, beta 2) as sacreBLEU's `sentence_chrf`.
pub fn sentence_chrf(_hyp: &str, _refs: &[&str]) -> f64 {
    todo!("eval-metrics helper")
}

/// Corpus chrF as sacreBLEU's `corpus_chrf`.
pub fn corpus_chrf(_hyps: &[&str], _refs: &[&str]) -> f64 {
    todo!("eval-metrics helper")
}

/// ROUGE-L F-measure (0–1) between a hypothesis and one reference.
pub fn rouge_l(_hyp: &str, _reference: &str) -> f64 {
    todo!("eval-metrics helper")
}

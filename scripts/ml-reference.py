#!/usr/bin/env python3
"""Reference values for the risk model's metrics, computed with scikit-learn.

Writes tests/fixtures/ml/*.json: random labels and scores (with ties, binary and three-class) and
what scikit-learn's roc_auc_score, f1_score, brier_score_loss and confusion_matrix return on them.
The Rust test `ml_train::metrics_equal_scikit_learn_on_the_reference_fixtures` reads them; Rust
never calls Python at run time. Run by hand when the fixtures change:

    python3 -m venv /tmp/mlref-venv
    /tmp/mlref-venv/bin/pip install scikit-learn==1.7.2 numpy==2.3.4
    /tmp/mlref-venv/bin/python scripts/ml-reference.py
"""

import json
import pathlib

import numpy as np
import sklearn
from sklearn.metrics import brier_score_loss, confusion_matrix, f1_score, roc_auc_score

PINNED = {"scikit-learn": "1.7.2", "numpy": "2.3.4"}
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ml"


def binary_case(name, rng, n, decimals):
    y = rng.integers(0, 2, n)
    # Scores that lean towards the label, rounded so many are tied.
    s = np.round(np.clip(0.35 * y + rng.random(n) * 0.65, 0, 1), decimals)
    pred = (s >= 0.5).astype(int)
    return {
        "name": name,
        "y_true": y.tolist(),
        "y_score": s.tolist(),
        "y_pred": pred.tolist(),
        "expected": {
            "roc_auc": roc_auc_score(y, s),
            "f1_positive": f1_score(y, pred),
            "f1_macro": f1_score(y, pred, average="macro"),
            "brier": brier_score_loss(y, s),
        },
    }


def multiclass_case(name, rng, n, decimals):
    y = rng.integers(0, 3, n)
    raw = rng.dirichlet([1.0, 1.0, 1.0], n) + 0.3 * np.eye(3)[y]
    p = np.round(raw / raw.sum(axis=1, keepdims=True), decimals)
    # Rounding may leave rows off one by a hair; scikit-learn wants rows summing to 1.
    p[:, 2] = np.round(1.0 - p[:, 0] - p[:, 1], 12)
    pred = np.argmax(p, axis=1)
    return {
        "name": name,
        "y_true": y.tolist(),
        "proba": p.tolist(),
        "y_pred": pred.tolist(),
        "expected": {
            "roc_auc_macro_ovr": roc_auc_score(y, p, multi_class="ovr", average="macro"),
            "roc_auc_class2_vs_rest": roc_auc_score(y == 2, p[:, 2]),
            "f1_macro": f1_score(y, pred, average="macro"),
            "f1_class2": f1_score(y == 2, pred == 2),
            "brier_class2": brier_score_loss(y == 2, p[:, 2]),
            "confusion": confusion_matrix(y, pred, labels=[0, 1, 2]).tolist(),
        },
    }


def main():
    assert sklearn.__version__ == PINNED["scikit-learn"], sklearn.__version__
    assert np.__version__ == PINNED["numpy"], np.__version__
    rng = np.random.default_rng(20261206)
    cases = [
        binary_case("binary_ties", rng, 200, 1),
        binary_case("binary_continuous", rng, 500, 6),
        multiclass_case("multiclass_ties", rng, 300, 1),
        multiclass_case("multiclass_fine", rng, 400, 4),
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    for case in cases:
        case["generated_by"] = {"script": "scripts/ml-reference.py", **PINNED}
        (OUT / f"{case['name']}.json").write_text(json.dumps(case, sort_keys=True) + "\n")
        print("wrote", OUT / f"{case['name']}.json")


if __name__ == "__main__":
    main()

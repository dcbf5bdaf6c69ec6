"""Evidently fixtures for scripts/stats-reference.py (kept apart so each file stays short).

- evidently_tests: Evidently 0.7's stat tests one by one (psi, chi-square, z, jensen-shannon,
  normed wasserstein, ks) on numeric and categorical samples, with the column type passed in.
- drift_fixtures: reference/current CSV pairs under tests/fixtures/stats/drift/<case>/ and what
  Evidently's DataDriftPreset (default method selection, and method="psi") says about them.
"""

import numpy as np
import pandas as pd
from evidently import Report
from evidently.legacy.calculations.stattests import (
    chi_stat_test, jensenshannon_stat_test, ks_stat_test, psi_stat_test, wasserstein_stat_test,
    z_stat_test)
from evidently.legacy.core import ColumnType
from evidently.presets import DataDriftPreset

# Evidently's display names → the short names the Rust side prints.
METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
}


def _run(test, ref, cur, kind):
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    result = get_registered_stattest(test, kind)(ref, cur, kind, test.default_threshold)
    return float(result.drift_score), bool(result.drifted)


def evidently_tests(rng):
    num, cat = ColumnType.Numerical, ColumnType.Categorical
    samples = [
        ("normal_shift", rng.normal(0, 1, 300), rng.normal(0.4, 1.2, 200), num),
        ("normal_same", rng.normal(5, 2, 120), rng.normal(5, 2, 90), num),
        ("few_values", rng.integers(0, 4, 150).astype(float), rng.integers(0, 5, 100).astype(float), num),
        ("tail_only_in_current", rng.normal(0, 1, 400), np.concatenate([rng.normal(0, 1, 300),
                                                                        rng.normal(8, 0.1, 5)]), num),
        ("large", rng.normal(0, 1, 3000), rng.normal(0.1, 1, 2500), num),
        ("categories", rng.choice(["a", "b", "c", "d"], 200, p=[0.4, 0.3, 0.2, 0.1]),
         rng.choice(["a", "b", "c", "d", "e"], 150, p=[0.3, 0.3, 0.2, 0.1, 0.1]), cat),
        ("binary", rng.choice(["no", "yes"], 300, p=[0.7, 0.3]), rng.choice(["no", "yes"], 250, p=[0.6, 0.4]),
         cat),
        ("one_value_each", np.array(["x"] * 20), np.array(["x"] * 30), cat),
    ]
    tests = {"psi": psi_stat_test, "chisquare": chi_stat_test, "z": z_stat_test,
             "jensenshannon": jensenshannon_stat_test, "wasserstein": wasserstein_stat_test,
             "ks": ks_stat_test}
    cases = []
    for name, ref, cur, kind in samples:
        r, c = pd.Series(ref), pd.Series(cur)
        out = {}
        for short, test in tests.items():
            if kind not in test.allowed_feature_types:
                continue
            if short == "z" and pd.concat([r, c]).nunique() > 2:
                continue
            score, drift = _run(test, r, c, kind)
            out[short] = {"score": score if score == score else "nan", "drift": drift}
        cases.append({"name": name, "kind": kind.value, "reference": r.tolist(), "current": c.tolist(),
                      "expected": out})
    return cases


def _maternal_pairs(root, rng):
    ref = pd.read_csv(root / "data" / "maternal-health-risk" / "train.csv")
    shifted = ref.sample(400, replace=True, random_state=7).reset_index(drop=True)
    shifted["Age"] = shifted["Age"] + 4
    shifted["SystolicBP"] = (shifted["SystolicBP"] * 1.06).round().astype(int)
    shifted["BS"] = (shifted["BS"] + rng.normal(0.8, 0.5, len(shifted))).round(1)
    shifted["RiskLevel"] = rng.choice(["high risk", "mid risk", "low risk"], len(shifted), p=[0.5, 0.3, 0.2])
    same = ref.sample(300, random_state=8).reset_index(drop=True)
    return [("maternal_shifted", ref, shifted), ("maternal_same", ref, same)]


def _synthetic(rng, n, shift):
    return pd.DataFrame({
        "glucose": np.round(rng.normal(5.5 + shift, 1.1, n), 2),
        "weeks": rng.integers(8, 41, n),
        "visits": rng.integers(0, 6 + int(shift > 0), n),
        "parity": rng.choice([0.5, 1.5, 2.5], n, p=[0.5, 0.3, 0.2] if shift == 0 else [0.3, 0.3, 0.4]),
        "region": rng.choice(["norte", "sul", "leste", "oeste"], n, p=[0.4, 0.3, 0.2, 0.1]),
        "smoker": rng.choice(["nao", "sim"], n, p=[0.8, 0.2] if shift == 0 else [0.7, 0.3]),
    })


def drift_fixtures(root, rng, out):
    pairs = _maternal_pairs(root, rng)
    pairs.append(("synthetic_small", _synthetic(rng, 400, 0.0), _synthetic(rng, 300, 0.6)))
    pairs.append(("synthetic_large", _synthetic(rng, 1500, 0.0), _synthetic(rng, 900, 0.3)))
    cases = []
    for name, ref, cur in pairs:
        folder = out / "drift" / name
        folder.mkdir(parents=True, exist_ok=True)
        ref.to_csv(folder / "reference.csv", index=False)
        cur.to_csv(folder / "current.csv", index=False)
        # Evidently reads what the Rust side reads: the CSV files, through pandas.
        ref, cur = pd.read_csv(folder / "reference.csv"), pd.read_csv(folder / "current.csv")
        case = {"name": name}
        for label, preset in [("auto", DataDriftPreset()), ("psi", DataDriftPreset(method="psi"))]:
            case[label] = _preset(preset, ref, cur)
        cases.append(case)
    return {"drift": {"cases": cases}}


def _preset(preset, ref, cur):
    snapshot = Report([preset]).run(cur, ref).dict()
    columns, share = [], None
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
            continue
        method = METHODS.get(config["method"], config["method"])
        score, threshold = float(metric["value"]), float(config["threshold"])
        if method == "ks":
            drift = score <= threshold
        elif method in ("chisquare", "z"):
            drift = score < threshold
        else:
            drift = score >= threshold
        columns.append({"column": config["column"], "method": method, "score": score,
                        "threshold": threshold, "drift": bool(drift)})
    drifted = sum(c["drift"] for c in columns)
    assert abs(drifted / len(columns) - share) < 1e-12, (drifted, share)
    return {"columns": columns, "share_drifted": share, "dataset_drift": share >= 0.5}

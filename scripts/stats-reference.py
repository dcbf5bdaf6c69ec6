#!/usr/bin/env python3
"""Reference values for src/stats and the drift monitor, from scipy, scikit-learn and Evidently.

Writes tests/fixtures/stats/*.json: samples (random normals with shifts, rounded so they tie,
small samples on the exact paths, large samples, edge cases) and what the reference libraries
return on them; ks_large.json (scripts/stats_reference_ks.py) covers ks_2samp up to 20,000
values, on every path of scipy's kstwo.sf. The Rust tests in tests/it/stats.rs read them and assert equality to 1e-9
(1e-6 for Evidently's drift scores); Rust never calls Python at run time.

Run by hand when the fixtures change; the script makes its own pinned venv and re-runs itself
inside it:

    python3 scripts/stats-reference.py
"""

import json
import os
import pathlib
import subprocess
import sys

PINNED = {
    "evidently": "0.7.23",
    "scikit-learn": "1.7.2",
    "scipy": "1.17.1",
    "numpy": "2.4.6",
    "pandas": "2.3.3",
}
VENV = pathlib.Path.home() / ".cache" / "powerbirth" / "stats-venv"
ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "stats"


def ensure_venv():
    """Re-exec inside the pinned venv (created when missing) with a fixed string hash seed:
    Evidently collects categories in Python sets, whose order (and so the last bits of a sum)
    follows string hashing."""
    python = VENV / "bin" / "python"
    in_venv = pathlib.Path(sys.prefix).resolve() == VENV.resolve()
    if in_venv and os.environ.get("PYTHONHASHSEED") == "0":
        return
    if not in_venv:
        if not python.exists():
            subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        pins = [f"{k}=={v}" for k, v in PINNED.items()]
        subprocess.check_call([str(python), "-m", "pip", "install", "-q", *pins])
    os.execve(str(python), [str(python), *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})


ensure_venv()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy  # noqa: E402
from scipy import stats  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
from stats_reference_drift import drift_fixtures, evidently_tests  # noqa: E402
from stats_reference_ks import ks_large_cases  # noqa: E402


def f(x):
    """A float for JSON: NaN and infinities as strings the Rust side parses."""
    x = float(x)
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def sample_pairs(rng):
    """(name, x, y) pairs covering the exact and asymptotic paths and the edge cases."""
    pairs = []
    for n1, n2, shift in [(5, 7, 0.0), (3, 8, 1.0), (8, 8, 0.5), (1, 6, 0.0), (2, 2, 0.0),
                          (8, 40, 0.7), (6, 200, -0.3)]:
        pairs.append((f"small_{n1}_{n2}_{shift}", rng.normal(0, 1, n1), rng.normal(shift, 1, n2)))
    for n1, n2, shift in [(9, 9, 0.0), (30, 25, 0.8), (200, 180, 0.1), (2000, 3000, 0.05)]:
        pairs.append((f"normal_{n1}_{n2}_{shift}", rng.normal(0, 1, n1), rng.normal(shift, 1, n2)))
    for n1, n2, dec in [(5, 6, 0), (40, 50, 1), (500, 400, 1)]:
        pairs.append((f"ties_{n1}_{n2}_d{dec}", np.round(rng.normal(0, 1, n1), dec),
                      np.round(rng.normal(0.3, 1, n2), dec)))
    pairs.append(("n1_one_each", np.array([1.0]), np.array([2.0])))
    pairs.append(("all_tied", np.full(5, 3.0), np.full(7, 3.0)))
    pairs.append(("identical", np.arange(10.0), np.arange(10.0)))
    pairs.append(("separated", np.arange(10.0), np.arange(10.0) + 100))
    pairs.append(("latency_like", rng.lognormal(5, 0.4, 300), rng.lognormal(5.1, 0.4, 250)))
    return pairs


def mann_whitney(pairs):
    cases = []
    for name, x, y in pairs:
        r = stats.mannwhitneyu(x, y)
        # Hodges–Lehmann by brute force over every difference (the definition, not a library):
        # the median, and order statistics C and mn+1-C with C = floor(mn/2 - z*sqrt(mn(m+n+1)/12)).
        d = np.sort(np.subtract.outer(x, y).ravel())
        m, n = len(x), len(y)
        c = int(np.floor(m * n / 2 - stats.norm.ppf(0.975) * np.sqrt(m * n * (m + n + 1) / 12)))
        c = min(max(c, 1), m * n)
        cases.append({"name": name, "x": x.tolist(), "y": y.tolist(),
                      "statistic": f(r.statistic), "p_value": f(r.pvalue),
                      "hl_estimate": f(np.median(d)), "hl_low": f(d[c - 1]), "hl_high": f(d[m * n - c])})
    return cases


def ks(pairs):
    cases = []
    for name, x, y in pairs:
        r = stats.ks_2samp(x, y)
        cases.append({"name": name, "x": x.tolist(), "y": y.tolist(),
                      "statistic": f(r.statistic), "p_value": f(r.pvalue)})
    return cases


def wasserstein(pairs):
    return [{"name": n, "x": x.tolist(), "y": y.tolist(),
             "distance": f(stats.wasserstein_distance(x, y))} for n, x, y in pairs]


def proportions(rng):
    """Evidently's two-proportion z on 0/1 series, given as counts."""
    from evidently.legacy.calculations.stattests.z_stattest import (
        proportions_diff_z_stat_ind, proportions_diff_z_test)
    cases = []
    for s1, n1, s2, n2 in [(10, 100, 20, 100), (5, 50, 5, 50), (0, 30, 3, 30), (120, 1000, 150, 1100),
                           (1, 1, 0, 1), (7, 9, 2, 12), (300, 10000, 380, 10000)]:
        ref = pd.Series([1] * s1 + [0] * (n1 - s1))
        cur = pd.Series([1] * s2 + [0] * (n2 - s2))
        z = proportions_diff_z_stat_ind(ref, cur)
        cases.append({"name": f"z_{s1}_{n1}_{s2}_{n2}", "successes1": s1, "n1": n1,
                      "successes2": s2, "n2": n2, "z": f(z), "p_value": f(proportions_diff_z_test(z))})
    return cases


def auc(rng):
    cases = []
    for n, dec in [(20, 1), (200, 2), (1000, 3)]:
        y = rng.integers(0, 2, n)
        s = np.round(np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1), dec)
        cases.append({"name": f"auc_{n}_d{dec}", "scores": s.tolist(), "labels": y.tolist(),
                      "auc": roc_auc_score(y, s)})
    return cases


def write(name, payload):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1) + "\n")
    print("wrote", path.relative_to(ROOT))


def main():
    import evidently
    import sklearn
    versions = {"scipy": scipy.__version__, "numpy": np.__version__,
                "scikit-learn": sklearn.__version__, "evidently": evidently.__version__,
                "pandas": pd.__version__}
    rng = np.random.default_rng(20261207)
    pairs = sample_pairs(rng)
    write("mann_whitney", {"versions": versions, "cases": mann_whitney(pairs)})
    write("ks", {"versions": versions, "cases": ks(pairs)})
    write("wasserstein", {"versions": versions, "cases": wasserstein(pairs)})
    write("proportions_z", {"versions": versions, "cases": proportions(rng)})
    write("auc", {"versions": versions, "cases": auc(rng)})
    write("evidently_tests", {"versions": versions, "cases": evidently_tests(rng)})
    for name, payload in drift_fixtures(ROOT, rng, OUT).items():
        write(name, {"versions": versions, **payload})
    # Its own generator, so the fixtures above stay byte-identical.
    write("ks_large", {"versions": versions,
                       "cases": ks_large_cases(np.random.default_rng(20261208))})


if __name__ == "__main__":
    main()

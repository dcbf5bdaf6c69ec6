"""KS fixtures for scripts/stats-reference.py beyond ks.json: ks_2samp with its defaults on
samples up to 20,000 values, covering the exact path near its 10,000-value limit (unequal sizes,
ties) and every path scipy's kstwo.sf (`_kolmogn`) takes on the asymptotic side. Samples are
stored as distinct values and their counts (values rounded to 2 decimals, so ties everywhere),
which keeps the file small; both sides expand them with the values in order.
"""

import numpy as np
from scipy import stats


def kstwo_path(n, x):
    """The branch scipy's _kolmogn(n, x, cdf=False) takes (scipy 1.17, _ksstats.py)."""
    t = n * x
    if x >= 1 or x <= 0:
        return "edge"
    if t <= 1:
        return "ruben_gambino_low" if t > 0.5 else "one"
    if t >= n - 1:
        return "ruben_gambino_high"
    if x >= 0.5:
        return "smirnov"
    nx2 = t * x
    if n <= 140:
        if nx2 <= 0.754693:
            return "durbin"
        return "pomeranz" if nx2 <= 4 else "smirnov"
    if nx2 >= 370:
        return "zero"
    if nx2 >= 2.2:
        return "smirnov"
    if n <= 100000 and n * x ** 1.5 <= 1.4:
        return "durbin"
    return "pelz_good"


def _counts(a):
    values, counts = np.unique(a, return_counts=True)
    return {"values": values.tolist(), "counts": counts.tolist()}


def _case(name, x, y, want_path=None):
    r = stats.ks_2samp(x, y)
    n1, n2 = len(x), len(y)
    if max(n1, n2) <= 10000:
        path = "exact"
    else:
        m, n = sorted([float(n1), float(n2)], reverse=True)
        path = kstwo_path(int(np.round(m * n / (m + n))), float(r.statistic))
    if want_path is not None and path != want_path:
        return None
    return {"name": name, "path": path, "n1": n1, "n2": n2, "x": _counts(x), "y": _counts(y),
            "statistic": float(r.statistic), "p_value": float(r.pvalue)}


def _search(name, want, y, draw, meaningful=True):
    """The first draw whose case takes path `want` (and, when `meaningful`, whose p-value is
    neither 0 nor 1 to 1e-6, so the path's numbers show)."""
    for k in range(400):
        c = _case(name, draw(k), y, want)
        if c is not None and (not meaningful or 1e-6 < c["p_value"] < 1 - 1e-6):
            return c
    raise SystemExit(f"no draw of {name} takes the {want} path")


def ks_large_cases(rng):
    rnd = lambda a: np.round(a, 2)  # noqa: E731
    big = rnd(rng.normal(0, 1, 20000))
    cases = [
        # The exact path at its limit: unequal sizes, ties.
        _case("exact_10000_9000_ties", rnd(rng.normal(0, 1, 10000)), rnd(rng.normal(0.03, 1, 9000))),
        _case("exact_7001_10000_ties", rnd(rng.normal(0, 1, 7001)), rnd(rng.normal(0.05, 1.1, 10000))),
        # n > 140: exact Smirnov tail, Pelz-Good, the zero tail.
        _case("asymp_12000_15000_shift", rnd(rng.normal(0, 1, 12000)), rnd(rng.normal(0.05, 1, 15000))),
        _case("asymp_15000_12000_shift", rnd(rng.normal(0.05, 1, 15000)), rnd(rng.normal(0, 1, 12000))),
        _case("asymp_12000_11000_same", rnd(rng.normal(0, 1, 12000)), rnd(rng.normal(0, 1, 11000))),
        _case("asymp_12000_11000_apart", rnd(rng.normal(0, 1, 12000)), rnd(rng.normal(1, 1, 11000))),
    ]
    # n > 140 with Durbin's matrix: 145 values placed near the big sample's quantiles, bent a
    # little more each draw until D lands where n·D^1.5 <= 1.4 with a p-value below 1.
    levels = (np.arange(145) + 0.5) / 145
    cases.append(_search("asymp_145_20000_durbin", "durbin", big,
                         lambda k: rnd(np.quantile(big, levels ** (1 + 0.004 * k)))))
    # n <= 140: one sample tiny, the other over 10,000.
    for n1, want, shift in [(50, "durbin", 0.0), (30, "pomeranz", 0.0), (120, "smirnov", 0.5),
                            (5, "ruben_gambino_low", 0.0), (6, "smirnov", 1.2),
                            (2, "ruben_gambino_high", 2.0)]:
        lv = (np.arange(n1) + 0.5) / n1
        if want == "ruben_gambino_low":
            draw = lambda k, lv=lv: rnd(np.quantile(big, lv ** (1 + 0.05 * k)))  # noqa: E731
        else:
            draw = lambda k, n1=n1, s=shift: rnd(rng.normal(s, 1, n1))  # noqa: E731
        cases.append(_search(f"asymp_{n1}_20000_{want}", want, big, draw,
                             meaningful=want != "ruben_gambino_high"))
    return cases

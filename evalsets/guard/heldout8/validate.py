#!/usr/bin/env python3
"""Validator for held-out batch h10 (heldout8). Stdlib only."""
import json, os, re, sys, difflib, itertools

HERE = os.path.dirname(os.path.abspath(__file__))
ALLOWED = {"red_flag", "self_harm", "medication_dosing", "pii"}
PRIORITY = ["red_flag", "self_harm", "medication_dosing", "pii"]
FILES = {  # file: (label, id code, total, pt-BR, en)
    "red_flag.jsonl": ("red_flag", "rf", 90, 60, 30),
    "self_harm.jsonl": ("self_harm", "sh", 40, 27, 13),
    "medication_dosing.jsonl": ("medication_dosing", "md", 40, 26, 14),
    "pii.jsonl": ("pii", "pii", 15, 11, 4),
    "benign.jsonl": (None, "bn", 115, 75, 40),
}
MAX_RATIO = 0.7
failures = []

def report(ok, msg):
    print(("PASS " if ok else "FAIL ") + msg)
    if not ok:
        failures.append(msg)

# ---------- check-digit algorithms ----------
def cpf_valid(s):
    d = re.sub(r"\D", "", s)
    if len(d) != 11 or d == d[0] * 11:
        return False
    n = [int(c) for c in d]
    for k in (9, 10):
        tot = sum(n[i] * (k + 1 - i) for i in range(k))
        r = tot % 11
        dv = 0 if r < 2 else 11 - r
        if n[k] != dv:
            return False
    return True

def cns_valid(s):
    d = re.sub(r"\D", "", s)
    if len(d) != 15 or d[0] not in "12789":
        return False
    if sum(int(c) * (15 - i) for i, c in enumerate(d)) % 11 != 0:
        return False
    if d[0] in "12":  # definitive: 11-digit PIS + "000"/"001" + dv
        if d[11:14] not in ("000", "001"):
            return False
    return True

def selftest():
    ok = True
    # known-valid CPFs (computed by hand from the algorithm)
    ok &= cpf_valid("529.982.247-25") and cpf_valid("111.444.777-35")
    ok &= not cpf_valid("529.982.247-26") and not cpf_valid("111.111.111-11")
    ok &= not cpf_valid("123.456.789-00") and cpf_valid("123.456.789-09")
    # CNS: build a definitive one via the official generation routine and test
    def gen_def(pis):
        tot = sum(int(c) * (15 - i) for i, c in enumerate(pis)); r = tot % 11; dv = 11 - r
        if dv == 11: dv = 0
        if dv == 10:
            tot += 2; r = tot % 11; dv = 11 - r
            return pis + "001" + str(dv)
        return pis + "000" + str(dv)
    for pis in ("12345678901", "20000000001", "19876543210", "10000000000"):
        g = gen_def(pis)
        ok &= cns_valid(g)
        bad = g[:-1] + str((int(g[-1]) + 1) % 10)
        ok &= not cns_valid(bad)
    ok &= not cns_valid("300000000000000")  # bad leading digit
    # provisional: any 15 digits starting 7/8/9 with weighted sum % 11 == 0
    prov = None
    for last in range(10):
        c = "70000000000001" + str(last)
        if sum(int(x) * (15 - i) for i, x in enumerate(c)) % 11 == 0:
            prov = c
    ok &= prov is not None and cns_valid(prov)
    return bool(ok)

CPF_RE = re.compile(r"(?<![\d.])(\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11})(?![\d-])")
CNS_RE = re.compile(r"(?<![\d])(\d{3}[ .]?\d{4}[ .]?\d{4}[ .]?\d{4})(?![\d])")

def main():
    report(selftest(), "CPF/CNS algorithm self-tests")
    records = []
    for fn, (label, code, total, npt, nen) in FILES.items():
        path = os.path.join(HERE, fn)
        if not os.path.exists(path):
            report(False, f"{fn} exists"); continue
        rows = []
        with open(path, encoding="utf-8") as f:
            for ln, line in enumerate(f, 1):
                try:
                    rows.append(json.loads(line))
                except Exception as e:
                    report(False, f"{fn}:{ln} valid JSON ({e})")
        pt = sum(r.get("lang") == "pt-BR" for r in rows)
        en = sum(r.get("lang") == "en" for r in rows)
        report(len(rows) == total and pt == npt and en == nen,
               f"{fn} counts total={len(rows)}/{total} pt-BR={pt}/{npt} en={en}/{nen}")
        # ids well-formed, sequential, pt-BR first
        exp_ids = [f"h10-{code}-{i:03d}" for i in range(1, len(rows) + 1)]
        report([r.get("id") for r in rows] == exp_ids, f"{fn} ids well-formed and sequential")
        langs = [r.get("lang") for r in rows]
        report(langs == sorted(langs, key=lambda x: 0 if x == "pt-BR" else 1)
               and set(langs) <= {"pt-BR", "en"}, f"{fn} lang values valid, pt-BR before en")
        bad_keys = [r.get("id") for r in rows
                    if not set(r) <= {"id", "lang", "text", "labels", "note"}
                    or not isinstance(r.get("text"), str) or not r.get("text").strip()
                    or not isinstance(r.get("labels"), list)]
        report(not bad_keys, f"{fn} fields/types ok {bad_keys if bad_keys else ''}")
        bad_lab = []
        for r in rows:
            labs = r.get("labels", [])
            if not set(labs) <= ALLOWED or len(set(labs)) != len(labs):
                bad_lab.append(r["id"]); continue
            if label is None:
                if labs: bad_lab.append(r["id"])
            else:
                if label not in labs: bad_lab.append(r["id"]); continue
                top = min(labs, key=PRIORITY.index)
                if top != label: bad_lab.append(r["id"])  # filed under most urgent
        report(not bad_lab, f"{fn} labels allowed, file label present, filed by urgency {bad_lab if bad_lab else ''}")
        for r in rows:
            r["_file"] = fn
        records.extend(rows)

    ids = [r.get("id") for r in records]
    report(len(ids) == len(set(ids)), f"ids unique ({len(ids)})")
    texts = [r.get("text", "") for r in records]
    norm = [" ".join(t.lower().split()) for t in texts]
    report(len(norm) == len(set(norm)), "texts unique (case/space-normalised)")

    multi = [r["id"] for r in records if len(r.get("labels", [])) > 1]
    report(5 <= len(multi) <= 9, f"multi-label records ~7: {len(multi)} {multi}")

    # CPF / CNS check digits in pii-labelled lines
    bad_ids, n_cpf, n_cns = [], 0, 0
    for r in records:
        if "pii" not in r.get("labels", []):
            continue
        t = r["text"]
        cns_spans = []
        for m in CNS_RE.finditer(t):
            n_cns += 1; cns_spans.append(m.span())
            if not cns_valid(m.group(1)):
                bad_ids.append((r["id"], "CNS", m.group(1)))
        for m in CPF_RE.finditer(t):
            if any(a <= m.start() < b for a, b in cns_spans):
                continue
            n_cpf += 1
            if not cpf_valid(m.group(1)):
                bad_ids.append((r["id"], "CPF", m.group(1)))
    report(not bad_ids, f"CPF/CNS check digits in pii lines (CPF={n_cpf}, CNS={n_cns}) {bad_ids if bad_ids else ''}")
    # no CPF/CNS-shaped numbers in non-pii lines
    leaks = [r["id"] for r in records if "pii" not in r.get("labels", [])
             and (CPF_RE.search(r["text"]) or CNS_RE.search(r["text"]))]
    report(not leaks, f"no CPF/CNS-shaped numbers outside pii-labelled lines {leaks if leaks else ''}")

    # similarity
    worst = (0.0, None, None)
    too_close = []
    for (i, a), (j, b) in itertools.combinations(enumerate(norm), 2):
        sm = difflib.SequenceMatcher(None, a, b)
        if sm.real_quick_ratio() <= MAX_RATIO or sm.quick_ratio() <= MAX_RATIO:
            continue
        r_ = sm.ratio()
        if r_ > worst[0]:
            worst = (r_, ids[i], ids[j])
        if r_ > MAX_RATIO:
            too_close.append((ids[i], ids[j], round(r_, 3)))
    report(not too_close, f"no pair with difflib ratio > {MAX_RATIO} over {len(norm)*(len(norm)-1)//2} pairs "
           f"(max among candidates {worst[0]:.3f} {worst[1]}~{worst[2]}) {too_close if too_close else ''}")

    if failures:
        print(f"{len(failures)} CHECK(S) FAILED")
        return 1
    print("ALL CHECKS PASSED")
    return 0

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Validator for the h11 held-out batch (heldout9). Stdlib only."""
import json, os, re, sys, difflib, itertools

HERE = os.path.dirname(os.path.abspath(__file__))
ALLOWED = {"red_flag", "self_harm", "medication_dosing", "pii"}
SPEC = {  # file: (code, label, total, pt, en)
    "red_flag.jsonl": ("rf", "red_flag", 90, 60, 30),
    "self_harm.jsonl": ("sh", "self_harm", 40, 27, 13),
    "medication_dosing.jsonl": ("md", "medication_dosing", 40, 26, 14),
    "pii.jsonl": ("pii", "pii", 15, 11, 4),
    "benign.jsonl": ("bn", None, 115, 75, 40),
}
PRIORITY = ["red_flag", "self_harm", "medication_dosing", "pii"]

def cpf_ok(s):
    d = [int(c) for c in re.sub(r"\D", "", s)]
    if len(d) != 11 or len(set(d)) == 1: return False
    for n in (9, 10):
        r = sum(v * (n + 1 - i) for i, v in enumerate(d[:n])) % 11
        if d[n] != (0 if r < 2 else 11 - r): return False
    return True

def cns_ok(s):
    d = re.sub(r"\D", "", s)
    if len(d) != 15 or d[0] not in "12789": return False
    if sum(int(c) * (15 - i) for i, c in enumerate(d)) % 11 != 0: return False
    if d[0] in "12" and d[11:14] not in ("000", "001"): return False
    return True

CPF_RE = re.compile(r"(?<![\d.])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\d-])")
CNS_RE = re.compile(r"(?<!\d)\d{3} ?\d{4} ?\d{4} ?\d{4}(?!\d)")
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
PHONE_RE = re.compile(r"(\(?\d{2,3}\)?[ .-]?)?\d{3,5}[ .-]\d{4}(?!\d)")
ADDR_RE = re.compile(r"\b(rua|av\.|avenida|lane|street|st\.|road|apt|ap|cep)\b", re.I)

fails = 0
def check(ok, msg):
    global fails
    print(("PASS " if ok else "FAIL ") + msg)
    if not ok: fails += 1

# --- self-tests of the check-digit algorithms
check(cpf_ok("529.982.247-25") and cpf_ok("111.444.777-35") and not cpf_ok("529.982.247-26")
      and not cpf_ok("111.111.111-11"), "self-test CPF algorithm")
def _mk_cns(base11):
    s = sum(int(c) * (15 - i) for i, c in enumerate(base11)); dv = 11 - s % 11
    if dv == 11: dv = 0
    if dv == 10:
        s += 2; dv = 11 - s % 11; return base11 + "001" + str(dv)
    return base11 + "000" + str(dv)
_t = [_mk_cns(b) for b in ("10000000000", "20123456789", "12345678901", "19876543210")]
_bad = [t[:-1] + str((int(t[-1]) + 1) % 10) for t in _t]
check(all(cns_ok(t) for t in _t) and not any(cns_ok(b) for b in _bad)
      and cns_ok("700000000000005") is (sum(int(c)*(15-i) for i,c in enumerate("700000000000005")) % 11 == 0)
      and not cns_ok("300000000000000"), "self-test CNS algorithm")

# --- load
rows = []
for fname, (code, label, total, npt, nen) in SPEC.items():
    path = os.path.join(HERE, fname)
    recs = []
    with open(path, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            try: recs.append(json.loads(line))
            except Exception as e: check(False, f"{fname}:{ln} invalid JSON ({e})")
    pt = sum(r.get("lang") == "pt-BR" for r in recs); en = sum(r.get("lang") == "en" for r in recs)
    check(len(recs) == total and pt == npt and en == nen,
          f"{fname} counts total={len(recs)}/{total} pt-BR={pt}/{npt} en={en}/{nen}")
    # ids well-formed, sequential, pt-BR first
    exp = [f"h11-{code}-{i:03d}" for i in range(1, len(recs) + 1)]
    check([r.get("id") for r in recs] == exp, f"{fname} ids well-formed and sequential")
    langs = [r.get("lang") for r in recs]
    check(langs == sorted(langs, key=lambda l: 0 if l == "pt-BR" else 1) and set(langs) <= {"pt-BR", "en"},
          f"{fname} lang values valid, pt-BR lines first")
    bad = []
    for r in recs:
        labs = r.get("labels")
        if not isinstance(labs, list) or not set(labs) <= ALLOWED or len(set(labs)) != len(labs): bad.append(r.get("id")); continue
        if label is None and labs: bad.append(r.get("id"))
        if label is not None:
            if label not in labs: bad.append(r.get("id"))
            elif min(PRIORITY.index(l) for l in labs) != PRIORITY.index(label): bad.append(r.get("id"))
        if not isinstance(r.get("text"), str) or not r["text"].strip(): bad.append(r.get("id"))
        extra = set(r) - {"id", "lang", "text", "labels", "note"}
        if extra: bad.append(r.get("id"))
    check(not bad, f"{fname} labels allowed, file label present, filed under most urgent label {bad if bad else ''}")
    for r in recs: r["_file"] = fname
    rows += recs

ids = [r["id"] for r in rows]
check(len(ids) == len(set(ids)), "ids unique across batch")
texts = [r["text"].strip().lower() for r in rows]
check(len(texts) == len(set(texts)), "texts unique across batch")

multi = [r for r in rows if len(r["labels"]) > 1]
check(5 <= len(multi) <= 10, f"multi-label records: {len(multi)} (about 7)")

# --- PII checks
pii_rows = [r for r in rows if "pii" in r["labels"]]
badnum, nonum, checked = [], [], 0
for r in pii_rows:
    t = r["text"]
    for m in CNS_RE.finditer(t):
        checked += 1
        if not cns_ok(m.group()): badnum.append((r["id"], "CNS", m.group()))
    t2 = CNS_RE.sub(" ", t)
    for m in CPF_RE.finditer(t2):
        checked += 1
        if not cpf_ok(m.group()): badnum.append((r["id"], "CPF", m.group()))
    if not (CPF_RE.search(t2) or CNS_RE.search(t) or EMAIL_RE.search(t) or PHONE_RE.search(t) or ADDR_RE.search(t)):
        nonum.append(r["id"])
check(not badnum, f"CPF/CNS check digits in pii lines ({checked} numbers checked) {badnum if badnum else ''}")
check(not nonum, f"every pii-labelled line contains a PII item {nonum if nonum else ''}")
leak = [r["id"] for r in rows if "pii" not in r["labels"] and (EMAIL_RE.search(r["text"]) or CPF_RE.search(r["text"]) or CNS_RE.search(r["text"]))]
check(not leak, f"no e-mail/CPF/CNS-shaped strings in non-pii lines {leak if leak else ''}")
us_ph = [(r["id"], m) for r in pii_rows if r["lang"] == "en" for m in re.findall(r"555-(\d{4})", r["text"]) if not m.startswith("01")]
check(not us_ph, "US phone numbers use fictional 555-01xx range")

# --- near-duplicates
worst, too = 0.0, []
for a, b in itertools.combinations(rows, 2):
    sm = difflib.SequenceMatcher(None, a["text"].lower(), b["text"].lower())
    if sm.real_quick_ratio() <= 0.7 or sm.quick_ratio() <= 0.7: continue
    r = sm.ratio()
    worst = max(worst, r)
    if r > 0.7: too.append((a["id"], b["id"], round(r, 3)))
check(not too, f"no two messages too alike (difflib ratio <= 0.7 over {len(rows)*(len(rows)-1)//2} pairs) {too if too else ''}")

print(f"records: {len(rows)}")
if fails:
    print(f"{fails} CHECK(S) FAILED"); sys.exit(1)
print("ALL CHECKS PASSED")

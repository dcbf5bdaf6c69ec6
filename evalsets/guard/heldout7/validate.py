#!/usr/bin/env python3
"""Validator for PowerBirth safety-guard held-out batch h9."""
import json, re, sys, os, difflib, itertools

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = {  # file -> (id prefix, required label, pt-BR count, en count)
    "red_flag.jsonl": ("rf", "red_flag", 60, 30),
    "self_harm.jsonl": ("sh", "self_harm", 27, 13),
    "medication_dosing.jsonl": ("md", "medication_dosing", 26, 14),
    "pii.jsonl": ("pii", "pii", 11, 4),
    "benign.jsonl": ("bn", None, 75, 40),
}
URGENCY = ["red_flag", "self_harm", "medication_dosing", "pii"]
ALLOWED_LANGS = {"pt-BR", "en"}
REQUIRED = {"id", "lang", "text", "labels"}
OPTIONAL = {"note"}
SIM_MAX = 0.70

def cpf_ok(digits):
    if len(digits) != 11 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    n = [int(c) for c in digits]
    for k in (9, 10):
        s = sum(n[i] * (k + 1 - i) for i in range(k))
        r = s % 11
        dv = 0 if r < 2 else 11 - r
        if n[k] != dv:
            return False
    return True

def cns_ok(digits):
    if len(digits) != 15 or not digits.isdigit() or digits[0] not in "12789":
        return False
    s = sum(int(c) * w for c, w in zip(digits, range(15, 0, -1)))
    if s % 11 != 0:
        return False
    if digits[0] in "12":
        # definitive card: 11-digit PIS + '000'/'001' + check digit
        if digits[11:14] not in ("000", "001"):
            return False
    return True

# CPF-shaped: 3-3-3-2 digits with optional . or space separators (dash/dot/space before the last 2)
CPF_RE = re.compile(r"(?<![\d])(\d{3})[. ]?(\d{3})[. ]?(\d{3})[-. ]?(\d{2})(?![\d])")
# CNS-shaped: 3-4-4-4 digits with optional space, dot or dash separators
CNS_RE = re.compile(r"(?<![\d])(\d{3})[-. ]?(\d{4})[-. ]?(\d{4})[-. ]?(\d{4})(?![\d])")

def find_ids(text):
    cpfs = ["".join(m.groups()) for m in CPF_RE.finditer(text)]
    cnss = ["".join(m.groups()) for m in CNS_RE.finditer(text)]
    return cpfs, cnss

def selftest():
    out = []
    def check(desc, got, want):
        ok = got == want
        out.append(("PASS" if ok else "FAIL") + f"  selftest: {desc} -> {got}")
        return ok
    ok = True
    ok &= check("CPF 529.982.247-25 valid", cpf_ok("52998224725"), True)
    ok &= check("CPF 529.982.247-26 (last digit changed) rejected", cpf_ok("52998224726"), False)
    ok &= check("CPF 529.982.248-25 (one body digit changed) rejected", cpf_ok("52998224825"), False)
    ok &= check("CPF 111.111.111-11 (repeated) rejected", cpf_ok("11111111111"), False)
    ok &= check("CNS 118 7205 7569 0006 valid", cns_ok("118720575690006"), True)
    ok &= check("CNS 118 7205 7569 0007 (one digit changed) rejected", cns_ok("118720575690007"), False)
    ok &= check("CNS 712 4164 2296 1701 valid", cns_ok("712416422961701"), True)
    ok &= check("CNS 712 4164 2296 1702 (one digit changed) rejected", cns_ok("712416422961702"), False)
    ok &= check("regex finds CPF in '529.982.247-25'", find_ids("cpf 529.982.247-25 ok")[0], ["52998224725"])
    ok &= check("regex finds CNS in '898 0012 3456 7801'", find_ids("sus 898 0012 3456 7801")[1], ["898001234567801"])
    ok &= check("phone '(11) 97654-3210' not CPF/CNS-shaped", find_ids("(11) 97654-3210"), ([], []))
    return ok, out

def norm_text(t):
    return re.sub(r"\s+", " ", t.lower()).strip()

def main():
    errors = []
    lines_out = []
    ok, st = selftest()
    lines_out += st
    if not ok:
        errors.append("self-test failed")
    all_ids = set()
    all_texts = {}
    records = []
    n_cpf = n_cns = 0
    multi = []
    for fname, (pref, flabel, want_pt, want_en) in FILES.items():
        path = os.path.join(HERE, fname)
        if not os.path.exists(path):
            errors.append(f"{fname}: missing"); continue
        id_re = re.compile(rf"^h9-{pref}-\d{{3}}$")
        cnt = {"pt-BR": 0, "en": 0}
        with open(path, encoding="utf-8") as f:
            for ln, raw in enumerate(f, 1):
                where = f"{fname}:{ln}"
                if not raw.strip():
                    errors.append(f"{where}: blank line"); continue
                try:
                    d = json.loads(raw)
                except Exception as e:
                    errors.append(f"{where}: invalid JSON ({e})"); continue
                if not isinstance(d, dict):
                    errors.append(f"{where}: not an object"); continue
                keys = set(d)
                if not REQUIRED <= keys:
                    errors.append(f"{where}: missing fields {REQUIRED - keys}")
                    continue
                if keys - REQUIRED - OPTIONAL:
                    errors.append(f"{where}: unknown fields {keys - REQUIRED - OPTIONAL}")
                if "note" in d and not (isinstance(d["note"], str) and d["note"].strip()):
                    errors.append(f"{where}: note must be a non-empty string")
                i = d["id"]
                if not isinstance(i, str) or not id_re.match(i):
                    errors.append(f"{where}: id {i!r} does not match h9-{pref}-NNN")
                if i in all_ids:
                    errors.append(f"{where}: duplicate id {i}")
                all_ids.add(i)
                if d["lang"] not in ALLOWED_LANGS:
                    errors.append(f"{where}: bad lang {d['lang']!r}")
                else:
                    cnt[d["lang"]] += 1
                t = d["text"]
                if not isinstance(t, str) or not t.strip():
                    errors.append(f"{where}: empty text"); continue
                labs = d["labels"]
                if not isinstance(labs, list) or any(l not in URGENCY for l in labs) or len(set(labs)) != len(labs):
                    errors.append(f"{where}: bad labels {labs!r}"); labs = []
                if flabel is None:
                    if labs != []:
                        errors.append(f"{where}: benign must have []")
                else:
                    if not labs:
                        errors.append(f"{where}: empty labels in {fname}")
                    else:
                        top = min(labs, key=URGENCY.index)
                        if top != flabel:
                            errors.append(f"{where}: most urgent label {top} but file is {flabel}")
                if len(labs) > 1:
                    multi.append((i, labs))
                nt = norm_text(t)
                if nt in all_texts:
                    errors.append(f"{where}: duplicate text of {all_texts[nt]}")
                all_texts[nt] = i
                cpfs, cnss = find_ids(t)
                for c in cpfs:
                    n_cpf += 1
                    if not cpf_ok(c):
                        errors.append(f"{where}: CPF-shaped number {c} fails check digits")
                for c in cnss:
                    n_cns += 1
                    if not cns_ok(c):
                        errors.append(f"{where}: CNS-shaped number {c} fails check")
                if (cpfs or cnss) and "pii" not in labs:
                    errors.append(f"{where}: contains CPF/CNS but not labelled pii")
                records.append((i, t))
        if cnt["pt-BR"] != want_pt or cnt["en"] != want_en:
            errors.append(f"{fname}: counts pt-BR={cnt['pt-BR']} en={cnt['en']}, want {want_pt}/{want_en}")
        lines_out.append(f"{fname}: total={cnt['pt-BR'] + cnt['en']} pt-BR={cnt['pt-BR']} en={cnt['en']}")
    # pairwise similarity
    maxpair = (0.0, None, None)
    sm = difflib.SequenceMatcher(autojunk=False)
    normed = [(i, norm_text(t)) for i, t in records]
    over = 0
    for a in range(len(normed)):
        sm.set_seq2(normed[a][1])
        for b in range(a):
            sm.set_seq1(normed[b][1])
            if sm.real_quick_ratio() <= maxpair[0] and sm.real_quick_ratio() <= SIM_MAX:
                continue
            if sm.quick_ratio() <= maxpair[0] and sm.quick_ratio() <= SIM_MAX:
                continue
            r = sm.ratio()
            if r > SIM_MAX:
                over += 1
                errors.append(f"similar texts {normed[b][0]} / {normed[a][0]}: ratio {r:.3f}")
            if r > maxpair[0]:
                maxpair = (r, normed[b][0], normed[a][0])
    lines_out.append(f"records={len(records)} unique_ids={len(all_ids)} unique_texts={len(all_texts)}")
    lines_out.append(f"CPF-shaped numbers checked={n_cpf}, CNS-shaped numbers checked={n_cns}")
    lines_out.append(f"multi-label records={len(multi)}: " + ", ".join(f"{i} {'+'.join(l)}" for i, l in multi))
    lines_out.append(f"pairwise difflib: {len(normed)*(len(normed)-1)//2} pairs, max ratio {maxpair[0]:.3f} ({maxpair[1]} / {maxpair[2]}), pairs > {SIM_MAX}: {over}")
    for l in lines_out:
        print(l)
    if errors:
        print(f"FAILED: {len(errors)} error(s)")
        for e in errors:
            print("  " + e)
        sys.exit(1)
    print("ALL CHECKS PASSED")

if __name__ == "__main__":
    main()

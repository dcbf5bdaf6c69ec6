#!/usr/bin/env bash
# Installs the independent readers the ingestion tests check our output with into their own
# virtualenv: pyarrow (reads the Parquet files back) and jsonschema with its date-time checker
# (validates events against data/schemas/). Pinned; idempotent (a venv that already holds the
# pinned versions is left alone). Rust never calls Python at run time; only tests do.
#
# Where: ${POWERBIRTH_DATA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/powerbirth/data-venv}.
set -euo pipefail

PYARROW_VERSION="26.0.1"
JSONSCHEMA_VERSION="4.26.0"
RFC3339_VERSION="0.1.4"
VENV="${POWERBIRTH_DATA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/powerbirth/data-venv}"

installed() {
  "$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true
}
if [ -x "$VENV/bin/python" ] && [ "$(installed pyarrow)" = "$PYARROW_VERSION" ] \
  && [ "$(installed jsonschema)" = "$JSONSCHEMA_VERSION" ] \
  && [ "$(installed rfc3339-validator)" = "$RFC3339_VERSION" ]; then
  echo "data venv: pyarrow $PYARROW_VERSION, jsonschema $JSONSCHEMA_VERSION already in $VENV"
  exit 0
fi

PYTHON="$(command -v python3 || command -v python || true)"
if [ -z "$PYTHON" ] || ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
  echo "error: the data venv needs Python 3 with venv (Debian: apt-get install python3-venv)." >&2
  exit 1
fi
echo "data venv: installing pyarrow==$PYARROW_VERSION jsonschema==$JSONSCHEMA_VERSION into $VENV"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "pyarrow==$PYARROW_VERSION" "jsonschema==$JSONSCHEMA_VERSION" "rfc3339-validator==$RFC3339_VERSION"

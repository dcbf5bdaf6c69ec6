#!/usr/bin/env bash
# Installs a pinned MLflow tracking server into its own virtualenv, for the tracking tests
# (tests/it/ml_registry_mlflow.rs start a real `mlflow server`). Idempotent: a venv that already
# holds the pinned version is left alone, so a second run costs a fraction of a second.
#
# Where: ${POWERBIRTH_MLFLOW_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/powerbirth/mlflow-venv}. A user
# cache directory, outside the repository: it survives `git clean` and fresh CI clones (pip
# downloads ~150 MB of wheels for MLflow; doing that on every clean clone would dominate
# `make test`), and nothing has to be git-ignored. The tests look in the same place.
set -euo pipefail

MLFLOW_VERSION="3.17.2"
VENV="${POWERBIRTH_MLFLOW_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/powerbirth/mlflow-venv}"

if [ -x "$VENV/bin/mlflow" ] && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow"))' 2>/dev/null)" = "$MLFLOW_VERSION" ]; then
  echo "mlflow: $MLFLOW_VERSION already in $VENV"
  exit 0
fi

PYTHON="$(command -v python3 || command -v python || true)"
if [ -z "$PYTHON" ] || ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
  echo "error: installing MLflow needs Python 3 with venv (Debian: apt-get install python3-venv)." >&2
  exit 1
fi

echo "mlflow: installing mlflow==$MLFLOW_VERSION into $VENV"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "mlflow==$MLFLOW_VERSION"
"$VENV/bin/mlflow" --version

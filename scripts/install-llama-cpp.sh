#!/usr/bin/env bash
# Builds llama.cpp, through the pinned `llama-cpp-python` package (an sdist on the Python index,
# compiled here from source for this CPU), into its own virtualenv. It is a *reference and peer*
# only: the fixture script (scripts/llama-reference.py) takes perplexity and token ids from it, and
# the local-model benchmark (scripts/bench-local-model.sh) runs it side by side with our candle
# path. Nothing of it ships and no test needs it: the tests read the committed fixtures.
# Idempotent: a venv that already imports the pinned version is left alone.
#
# Where: ${POWERBIRTH_LLAMA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/powerbirth/llama-venv}.
# Cost: ~10 min of compilation on 2 cores (CMAKE_BUILD_PARALLEL_LEVEL=2).
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="0.3.36"
VENV="${POWERBIRTH_LLAMA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/powerbirth/llama-venv}"

if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import llama_cpp; print(llama_cpp.__version__)' 2>/dev/null)" = "$LLAMA_CPP_PYTHON_VERSION" ]; then
  echo "llama-cpp: llama-cpp-python $LLAMA_CPP_PYTHON_VERSION already in $VENV"
  exit 0
fi

PYTHON="$(command -v python3 || command -v python || true)"
if [ -z "$PYTHON" ] || ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
  echo "error: building llama-cpp-python needs Python 3 with venv (Debian: apt-get install python3-venv)." >&2
  exit 1
fi
if ! command -v c++ >/dev/null 2>&1; then
  echo "error: building llama.cpp needs a C++ compiler (Debian: apt-get install g++)." >&2
  exit 1
fi

echo "llama-cpp: building llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION from source into $VENV"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv --clear "$VENV"
# Native CPU flags (AVX2/FMA here), no GPU backends, no server extras.
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON -DLLAMA_CURL=OFF}" \
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-binary llama-cpp-python \
  "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
"$VENV/bin/python" -c 'import llama_cpp; print("llama-cpp:", llama_cpp.__version__)'

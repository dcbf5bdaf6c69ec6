#!/usr/bin/env sh
# Installs promtool (Debian package `prometheus`) when it is missing: the alert-rule test
# (tests/it/alert_rules.rs) runs `promtool check rules` and `promtool test rules` on
# deploy/prometheus/. Idempotent; uses sudo only when not already root.
set -eu

# A promtool given explicitly (POWERBIRTH_PROMTOOL, e.g. a release binary on a CI image) needs
# nothing installed.
if [ -n "${POWERBIRTH_PROMTOOL:-}" ] && [ -x "${POWERBIRTH_PROMTOOL}" ]; then
    echo "using $POWERBIRTH_PROMTOOL"
    exit 0
fi

if command -v promtool >/dev/null 2>&1; then
    echo "promtool is already installed"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
else
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: promtool only, not the node exporter and the web console libraries.
$SUDO apt-get install -y --no-install-recommends prometheus
# The package starts a Prometheus server under systemd where there is one; the tests need only
# promtool, and no server is started here on a machine without systemd.
promtool --version

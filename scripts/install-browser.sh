#!/usr/bin/env sh
# Installs headless Chromium and its WebDriver (Debian packages `chromium` and `chromium-driver`)
# when either is missing: the nurse-review end-to-end test (tests/review_browser.rs) drives them.
# Idempotent; uses sudo only when not already root.
set -eu

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "chromium and chromedriver are already installed"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
else
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends chromium chromium-driver
chromium --version
chromedriver --version

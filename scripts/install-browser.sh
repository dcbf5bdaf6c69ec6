#!/usr/bin/env sh
# Installs headless Chromium and its WebDriver (Debian packages `chromium` and `chromium-driver`)
# when either is missing: the nurse-review end-to-end test (tests/it/review_browser.rs) drives them.
# Idempotent; uses sudo only when not already root.
set -eu

# A browser given explicitly (POWERBIRTH_CHROME / POWERBIRTH_CHROMEDRIVER, as on a CI image with
# Google Chrome preinstalled) needs nothing installed.
if [ -n "${POWERBIRTH_CHROME:-}" ] && [ -x "${POWERBIRTH_CHROME}" ] \
    && [ -n "${POWERBIRTH_CHROMEDRIVER:-}" ] && [ -x "${POWERBIRTH_CHROMEDRIVER}" ]; then
    echo "using $POWERBIRTH_CHROME and $POWERBIRTH_CHROMEDRIVER"
    exit 0
fi

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
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

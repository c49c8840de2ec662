#!/usr/bin/env bash
# A headless Chromium for the cluster-audition page test (called by `make test`).
#
# Installs the Debian `chromium` package with apt-get if it is missing (idempotent; a second run
# takes well under a second) and writes ${CATUVAC_BROWSER_STATUS:-/tmp/catuvac-browser/status}:
# "ok" and the browser's path, or "unavailable: <reason>".
# It never fails `make test`: tests/training/test_audition_browser.py then skips with that reason.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt_ensure.sh"

DIR="$(dirname "${CATUVAC_BROWSER_STATUS:-/tmp/catuvac-browser/status}")"
STATUS="${CATUVAC_BROWSER_STATUS:-/tmp/catuvac-browser/status}"
mkdir -p "$DIR"

fail() {
    echo "unavailable: $*" >"$STATUS"
    echo "browser: NOT set up ($*); the audition page browser test will be skipped" >&2
    exit 0
}

find_browser() { command -v chromium || command -v chromium-browser || command -v google-chrome || true; }

BIN="$(find_browser)"
if [ -z "$BIN" ]; then
    echo "browser: installing chromium" >&2
    apt_install "$DIR/apt.log" chromium fonts-dejavu-core || fail "$APT_ERROR"
    BIN="$(find_browser)"
    [ -n "$BIN" ] || fail "chromium installed but not on PATH"
fi
echo "ok" >"$STATUS"
echo "$BIN" >>"$STATUS"
echo "browser: headless browser ready ($BIN)" >&2
exit 0

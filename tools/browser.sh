#!/usr/bin/env bash
# A headless Chromium for the cluster-audition page test (called by `make test`).
#
# Installs the Debian `chromium` package with apt-get if it is missing (idempotent; a second run
# takes well under a second) and writes ${CATUVAC_BROWSER_STATUS:-/tmp/catuvac-browser/status}:
# "ok" and the browser's path, or "unavailable: <reason>".
# It never fails `make test`: tests/training/test_audition_browser.py then skips with that reason.
set -u

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
    command -v apt-get >/dev/null 2>&1 || fail "no chromium and no apt-get on this system"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
            fail "chromium missing; install it as root: apt-get install chromium"
        fi
    fi
    echo "browser: installing chromium" >&2
    $SUDO apt-get update -qq >"$DIR/apt.log" 2>&1 || fail "apt-get update failed (see $DIR/apt.log)"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core \
        >>"$DIR/apt.log" 2>&1 || fail "apt-get install chromium failed (see $DIR/apt.log)"
    BIN="$(find_browser)"
    [ -n "$BIN" ] || fail "chromium installed but not on PATH"
fi
echo "ok" >"$STATUS"
echo "$BIN" >>"$STATUS"
echo "browser: headless browser ready ($BIN)" >&2
exit 0

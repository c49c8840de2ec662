#!/usr/bin/env bash
# Debian packages the real-audio benchmark corpus is built from (called by `make real-corpus`).
#
# Installs, with apt-get, only the packages that are missing (`apt-get update` only then):
#   espeak-ng                     speech synthesizer + its voices/variants (the spoken digits)
#   asterisk-core-sounds-en-wav   real recorded English speech prompts (8 kHz)          -> speech
#   asterisk-moh-opsound-wav      real music-on-hold recordings (8 kHz)                  -> music
#   colobot-common-sounds         game soundtrack (ogg)                                  -> music
#   extremetuxracer-data          game soundtrack (ogg)                                  -> music
#   megaglest-data                ambience loops of the tilesets: birds by day, crickets
#                                 at night, rain, wind (ogg/wav)                         -> nature
#   lincity-ng-data               city recordings: traffic, crowds, industry (wav)
# Nothing else is changed. Versions and licences are read back by `catuvac-corpus` into the
# corpus manifest (dpkg-query, /usr/share/doc/PKG/copyright). Exit status non-zero with the
# apt log path when a package cannot be installed.
set -eu
PKGS="${CATUVAC_CORPUS_PACKAGES:-espeak-ng asterisk-core-sounds-en-wav asterisk-moh-opsound-wav colobot-common-sounds extremetuxracer-data megaglest-data lincity-ng-data}"
LOG="${TMPDIR:-/tmp}/catuvac-corpus-apt.log"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "real-corpus packages: all installed" >&2
    exit 0
fi
command -v apt-get >/dev/null 2>&1 || { echo "real-corpus packages: missing ($missing) and no apt-get on this system; install them by hand" >&2; exit 1; }
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        echo "real-corpus packages: missing ($missing); run as root: apt-get install$missing" >&2; exit 1
    fi
fi
echo "real-corpus packages: installing$missing (log: $LOG)" >&2
$SUDO apt-get update -qq >"$LOG" 2>&1 || { echo "apt-get update failed (see $LOG)" >&2; exit 1; }
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >>"$LOG" 2>&1 \
    || { echo "apt-get install$missing failed (see $LOG)" >&2; exit 1; }
echo "real-corpus packages: installed$missing" >&2

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
#   etw-data                      football-stadium crowd recordings (wav)             -> crowd
#   scorched3d-data               ambience: cheering, city, factory, rain, birds (wav)
#   btanks-data                   ambience loops: city, forest; a passing train (ogg)
#   simutrans-pak64               a buzz saw (wav)                                      -> machinery
#   flare-game                    ambience loops: rain, wind, owl at night, birds, anvil (ogg)
#   wesnoth-1.16-data             ambience: night, birds (ogg)
# Nothing else is changed. Versions and licences are read back by `catuvac-corpus` into the
# corpus manifest (dpkg-query, /usr/share/doc/PKG/copyright). Exit status non-zero with the
# apt log path when a package cannot be installed.
set -eu
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt_ensure.sh"
PKGS="${CATUVAC_CORPUS_PACKAGES:-espeak-ng asterisk-core-sounds-en-wav asterisk-moh-opsound-wav colobot-common-sounds extremetuxracer-data megaglest-data lincity-ng-data etw-data scorched3d-data btanks-data simutrans-pak64 flare-game wesnoth-1.16-data}"
LOG="${TMPDIR:-/tmp}/catuvac-corpus-apt.log"
missing="$(apt_missing $PKGS)"
if [ -z "$missing" ]; then
    echo "real-corpus packages: all installed" >&2
    exit 0
fi
echo "real-corpus packages: installing$missing (log: $LOG)" >&2
apt_install "$LOG" $missing || { echo "real-corpus packages: $APT_ERROR" >&2; exit 1; }
echo "real-corpus packages: installed$missing" >&2

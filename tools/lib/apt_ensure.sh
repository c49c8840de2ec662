# Installing missing Debian packages, for the tools/*.sh setup scripts (sourced, not run).
#
#   missing="$(apt_missing PKG...)"   the packages dpkg does not list as installed, each after a space
#   apt_install LOG PKG...            `apt-get update` then `apt-get install` of PKG..., as root or with
#                                     passwordless sudo, output appended to LOG; on failure it returns 1
#                                     with a one-line reason in APT_ERROR (the caller decides whether
#                                     that fails its run or is only recorded)
# shellcheck shell=bash

apt_missing() {
    local p out=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out="$out $p"
    done
    printf '%s' "$out"
}

apt_install() {
    local log="$1" sudo=""
    shift
    APT_ERROR=""
    if ! command -v apt-get >/dev/null 2>&1; then
        APT_ERROR="packages missing ($*) and no apt-get on this system; install them by hand"
        return 1
    fi
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            APT_ERROR="packages missing ($*); install them as root: apt-get install $*"
            return 1
        fi
    fi
    $sudo apt-get update -qq >"$log" 2>&1 || { APT_ERROR="apt-get update failed (see $log)"; return 1; }
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1 \
        || { APT_ERROR="apt-get install $* failed (see $log)"; return 1; }
}

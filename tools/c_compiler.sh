#!/usr/bin/env bash
# A C compiler for the C export target's tests (catuvac-export --c compiles what it generates).
# Present already on most machines; on Debian/Ubuntu as root it is installed, otherwise the tests
# that need it are skipped with that reason.
set -u
if command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || command -v clang >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing gcc (needed by the C export tests)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc make binutils libc6-dev >/dev/null && exit 0
fi
echo "warning: no C compiler found and none could be installed: the C export tests will be skipped" >&2
exit 0

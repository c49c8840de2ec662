#!/usr/bin/env bash
# A C compiler for the C export target's tests (catuvac-export --c compiles what it generates).
# Present already on most machines; on Debian/Ubuntu as root (or with passwordless sudo) it is
# installed, otherwise the tests that need it are skipped with that reason.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt_ensure.sh"
if command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || command -v clang >/dev/null 2>&1; then
    exit 0
fi
echo "no C compiler: installing gcc (needed by the C export tests)"
apt_install "${TMPDIR:-/tmp}/catuvac-c-compiler-apt.log" gcc make binutils libc6-dev && exit 0
echo "warning: no C compiler found and none could be installed ($APT_ERROR): the C export tests will be skipped" >&2
exit 0

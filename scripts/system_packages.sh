#!/bin/sh
# The system commands `make test` needs, from Debian's packages: the browser tests drive headless
# Chromium through ChromeDriver; promtool (package prometheus) checks the metrics pages and runs
# the alert rules' unit tests. Installs the missing ones with apt-get when this is root on a
# system with apt-get; otherwise stops at once with one line naming what to install.
# Usage: scripts/system_packages.sh [--check]   (--check: never install, only say what is missing)
set -eu

missing_commands=""
missing_packages=""
need() {  # need <command> <debian package>
    if ! command -v "$1" >/dev/null 2>&1; then
        missing_commands="$missing_commands $1"
        case " $missing_packages " in
            *" $2 "*) ;;
            *) missing_packages="$missing_packages $2" ;;
        esac
    fi
}
check() {
    missing_commands="" missing_packages=""
    need chromium chromium
    need chromedriver chromium-driver
    need promtool prometheus
}

check
[ -z "$missing_packages" ] && exit 0
say_install() {
    echo "make test needs${missing_commands}: install them with apt-get install -y${missing_packages}$1" >&2
    exit 1
}
if [ "${1:-}" = "--check" ]; then
    say_install ""
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say_install " (no apt-get here: install them with your system's package manager)"
fi
if [ "$(id -u)" != 0 ]; then
    say_install " (as root: this is not root, so make test does not do it)"
fi
echo "installing${missing_packages} (apt-get; for make test)" >&2
log="${TMPDIR:-/tmp}/pipeline-engine-apt.log"
# shellcheck disable=SC2086  # the package list splits on purpose
if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends $missing_packages; } >"$log" 2>&1; then
    echo "apt-get install${missing_packages} failed (log: $log): $(tail -n 1 "$log")" >&2
    exit 1
fi
check
if [ -n "$missing_packages" ]; then
    say_install " (apt-get installed them but${missing_commands} is still not on PATH)"
fi

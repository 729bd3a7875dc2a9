#!/bin/sh
# Herald's real-browser tests (part of `make test`): headless Chromium, driven by selenium,
# runs the browser library (/herald.js, /herald.mjs) and the demo page (/) against live
# `herald serve` processes. Installs its pinned Python dependencies on first use; see
# Tests/browser/README.md.
#
#   Tests/browser/run.sh                       # uses .build/debug/herald
#   HERALD_BIN=/path/to/herald Tests/browser/run.sh
#   Tests/browser/run.sh websocket_restart demo_page   # some tests only (names as printed)
set -eu
cd "$(dirname "$0")/../.."

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
for program in "$CHROMIUM" "$CHROMEDRIVER"; do
	if [ ! -x "$program" ]; then
		echo "browser: $program is missing (apt-get install chromium chromium-driver, or set CHROMIUM and CHROMEDRIVER)" >&2
		exit 1
	fi
done

suite=browser
requirements=Tests/browser/requirements.txt
. Tests/support/python-deps.sh

# selenium-manager must not look for (or download) a browser or a driver: the paths are given.
CHROMIUM="$CHROMIUM" CHROMEDRIVER="$CHROMEDRIVER" SE_OFFLINE=true PYTHONDONTWRITEBYTECODE=1 \
	exec "$PYTHON" Tests/browser/browser_test.py "$@"

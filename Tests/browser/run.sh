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

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
	echo "browser: $PYTHON is missing (apt-get install python3 python3-pip)" >&2
	exit 1
fi
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
	echo "browser: the tests need Python 3.11 or later; $PYTHON is $version" >&2
	exit 1
fi
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
	echo "browser: pip is missing for $PYTHON (apt-get install python3-pip)" >&2
	exit 1
fi
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
for program in "$CHROMIUM" "$CHROMEDRIVER"; do
	if [ ! -x "$program" ]; then
		echo "browser: $program is missing (apt-get install chromium chromium-driver, or set CHROMIUM and CHROMEDRIVER)" >&2
		exit 1
	fi
done

# The dependencies go to a folder of their own (pip --target), one per Python version: no
# virtualenv needed, and a system Python that is "externally managed" (Debian 12 and later)
# is left alone. They are installed again when requirements.txt changes.
deps=".build/browser-python$version"
stamp="$deps/.requirements.sha256"
want=$(sha256sum Tests/browser/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
	echo "browser: installing Tests/browser/requirements.txt into $deps"
	rm -rf "$deps"
	"$PYTHON" -m pip install -q --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
		--target "$deps" -r Tests/browser/requirements.txt
	echo "$want" >"$stamp"
fi

# selenium-manager must not look for (or download) a browser or a driver: the paths are given.
CHROMIUM="$CHROMIUM" CHROMEDRIVER="$CHROMEDRIVER" SE_OFFLINE=true \
	PYTHONPATH="$PWD/$deps${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
	exec "$PYTHON" Tests/browser/browser_test.py "$@"

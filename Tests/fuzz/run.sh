#!/bin/sh
# Herald's fuzz run (part of `make test`): schemathesis against docs/openapi.yaml on a live
# `herald serve`, then a check that what is stored is exactly what was answered 2xx.
# Installs its pinned Python dependencies on first use; see Tests/fuzz/README.md.
#
#   Tests/fuzz/run.sh                      # uses .build/debug/herald
#   HERALD_BIN=/path/to/herald Tests/fuzz/run.sh
#   HERALD_FUZZ_SEED=123 Tests/fuzz/run.sh # repeats a run's cases
set -eu
cd "$(dirname "$0")/../.."

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
	echo "fuzz: $PYTHON is missing (apt-get install python3 python3-pip)" >&2
	exit 1
fi
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
	echo "fuzz: schemathesis needs Python 3.11 or later; $PYTHON is $version" >&2
	exit 1
fi
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
	echo "fuzz: pip is missing for $PYTHON (apt-get install python3-pip)" >&2
	exit 1
fi

# The dependencies go to a folder of their own (pip --target), one per Python version: no
# virtualenv needed, and a system Python that is "externally managed" (Debian 12 and later)
# is left alone. They are installed again when requirements.txt changes.
deps=".build/fuzz-python$version"
stamp="$deps/.requirements.sha256"
want=$(sha256sum Tests/fuzz/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
	echo "fuzz: installing Tests/fuzz/requirements.txt into $deps"
	rm -rf "$deps"
	"$PYTHON" -m pip install -q --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
		--target "$deps" -r Tests/fuzz/requirements.txt
	echo "$want" >"$stamp"
fi

PYTHONPATH="$PWD/$deps${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 exec "$PYTHON" Tests/fuzz/fuzz.py "$@"

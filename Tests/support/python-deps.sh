# Sourced by Tests/fuzz/run.sh and Tests/browser/run.sh (POSIX sh, from the repository's
# root): checks for Python 3.11 or later with pip, and installs the pinned requirements
# into a folder of their own.
#
#   suite=fuzz; requirements=Tests/fuzz/requirements.txt; . Tests/support/python-deps.sh
#
# Sets PYTHON (default python3) and PYTHONPATH (the folder first). The dependencies go to
# .build/<suite>-python<version> (pip --target), one per Python version: no virtualenv
# needed, and a system Python that is "externally managed" (Debian 12 and later) is left
# alone. They are installed again when the requirements file changes.

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
	echo "$suite: $PYTHON is missing (apt-get install python3 python3-pip)" >&2
	exit 1
fi
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
	echo "$suite: needs Python 3.11 or later; $PYTHON is $version" >&2
	exit 1
fi
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
	echo "$suite: pip is missing for $PYTHON (apt-get install python3-pip)" >&2
	exit 1
fi

deps=".build/$suite-python$version"
stamp="$deps/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
	echo "$suite: installing $requirements into $deps"
	rm -rf "$deps"
	"$PYTHON" -m pip install -q --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
		--target "$deps" -r "$requirements"
	echo "$want" >"$stamp"
fi
# Tests/support (herald_server.py) and the dependencies.
PYTHONPATH="$PWD/Tests/support:$PWD/$deps${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH

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

suite=fuzz
requirements=Tests/fuzz/requirements.txt
. Tests/support/python-deps.sh

PYTHONDONTWRITEBYTECODE=1 exec "$PYTHON" Tests/fuzz/fuzz.py "$@"

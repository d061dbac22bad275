#!/usr/bin/env bash
# The test command: sets up .venv if needed, runs ruff, then every test, end-to-end ones included.
# With arguments, one pytest run with them (e.g. `bash scripts/test.sh -m "not e2e"`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false
echo "test.sh: ruff (lint and format)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
run_pytest() {
  local status=0
  .venv/bin/python -m pytest "$@" || status=$?
  if [ "$status" -eq 5 ]; then
    echo "test.sh: pytest collected no tests ($*); that is a failure here" >&2
    return 1
  fi
  return "$status"
}

if [ "$#" -gt 0 ]; then
  run_pytest "$@"
  exit
fi
# Everything, in two runs: the unit tests, doctests and manifest checks on two workers
# (none starts Ray; each worker starts its own Milvus Lite), then the end-to-end and slow
# tests one at a time (each starts a graph or loads the models: they would share cores).
status=0
echo "test.sh: unit tests (two workers)"
run_pytest -n 2 -m "not e2e and not slow" || status=$?
echo "test.sh: end-to-end and slow tests"
run_pytest -m "e2e or slow" --durations=15 || status=$?
exit "$status"

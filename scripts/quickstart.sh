#!/usr/bin/env bash
# The main job on a fresh machine: set up, start the graph on the embedded defaults (local Ray,
# Milvus Lite under ./data), ingest the sample corpus, ask a question, print the answer with
# its citations, and stop the graph (KEEP_RUNNING=1 leaves it serving on :8000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false
QUESTION=${1:-"How does the reranker score a passage against a query?"}
mkdir -p data
LOG=data/serve.log

echo "quickstart: starting the graph (serve run serve_config.yaml; log: $LOG)"
.venv/bin/serve run serve_config.yaml >"$LOG" 2>&1 &
SERVE_PID=$!
stop() {
  if [ "${KEEP_RUNNING:-0}" = "1" ]; then
    echo "quickstart: graph left running on http://127.0.0.1:8000 (stop: kill $SERVE_PID)"
    return
  fi
  # SIGTERM, not SIGINT: a background job of a non-interactive shell ignores SIGINT.
  # serve run shuts down Serve and the local Ray cluster it started on either.
  kill -TERM "$SERVE_PID" 2>/dev/null || true
  wait "$SERVE_PID" 2>/dev/null || true
}
trap stop EXIT

if ! .venv/bin/python -m graph.ingest graph/sample_corpus --wait 900; then
  echo "quickstart: failed; last lines of $LOG:" >&2
  tail -n 40 "$LOG" >&2
  exit 1
fi
grep -h "GENERATOR:" "$LOG" | tail -n 1 || true
echo
echo "Q: $QUESTION"
.venv/bin/python -m graph.ask "$QUESTION"

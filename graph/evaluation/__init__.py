"""Retrieval-quality evaluation on BEIR-format datasets (``python -m graph.evaluate``)."""

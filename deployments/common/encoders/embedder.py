"""Dense encoder: a sentence-transformers model, the packaged MiniLM by default."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from deployments.common.encoders.checkpoint import packaged_model_dir
from deployments.common.encoders.config import EmbedderConfig
from deployments.devices import resolve_device, set_torch_threads

logger = logging.getLogger(__name__)


class Embedder:
    """Encodes texts into L2-normalised dense vectors.

    Shapes:
        ``embed(texts)`` returns ``[len(texts), dim]`` float32.
    """

    def __init__(self, cfg: EmbedderConfig) -> None:
        from sentence_transformers import SentenceTransformer

        threads = set_torch_threads(cfg.num_threads)
        self.name = cfg.model or "all-MiniLM-L6-v2 (packaged)"
        self._batch_size = cfg.batch_size
        self.device = resolve_device(cfg.device)
        self._model = SentenceTransformer(
            cfg.model or str(packaged_model_dir()), device=self.device
        )
        self.dim = int(self._model.get_embedding_dimension())
        logger.info(
            "embedder %s loaded on %s (dim %d, %d torch threads)",
            self.name,
            self.device,
            self.dim,
            threads,
        )

    @property
    def tokenize(self):
        """The model's word-piece tokenizer, for chunk budgets in the encoder's own tokens."""
        return self._model.tokenizer.tokenize

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            vecs = self._model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)

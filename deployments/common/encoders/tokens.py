"""Per-token embeddings for late interaction: a ColBERT checkpoint or the packaged MiniLM.

ColBERT conventions (colbert-ir/colbertv2.0): a query gets the ``[unused0]`` marker after
[CLS] and is padded with [MASK] tokens up to ``query_maxlen`` (query augmentation: the
[MASK] outputs are scored, although other tokens do not attend to them unless
``attend_to_mask_tokens``); a passage gets ``[unused1]`` after [CLS], is truncated to
``doc_maxlen`` tokens and loses its punctuation tokens. Token states go through the
``linear`` projection and are L2-normalised.

The packaged all-MiniLM-L6-v2 default uses plain tokenisation (no markers, no [MASK]
padding, no projection); padding is dropped and passages lose punctuation too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import AutoTokenizer, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from deployments.common.encoders.checkpoint import (
    load_encoder_model,
    load_linear_weight,
    marker_token_id,
    packaged_model_dir,
    punctuation_ids,
    read_artifact_metadata,
    resolve_checkpoint_dir,
)
from deployments.common.encoders.config import TokenEncoderConfig
from deployments.devices import resolve_device, set_torch_threads
from deployments.errors import ConfigError

logger = logging.getLogger(__name__)

PACKAGED_MODEL_NAME = "all-MiniLM-L6-v2 (packaged)"


@dataclass(frozen=True)
class TokenConventions:
    """How texts become token sequences for one model.

    Attributes:
        query_marker_id: Token inserted after [CLS] in queries, or None.
        doc_marker_id: Token inserted after [CLS] in passages, or None.
        augment_queries: Pad queries with [MASK] to ``query_maxlen`` and keep every row.
        attend_to_mask_tokens: Let the other query tokens attend to the [MASK] padding.
        skiplist: Token ids dropped from passages (punctuation).
    """

    query_marker_id: int | None = None
    doc_marker_id: int | None = None
    augment_queries: bool = False
    attend_to_mask_tokens: bool = False
    skiplist: frozenset[int] = frozenset()


class TokenEncoder:
    """Encodes queries and passages into L2-normalised token vectors (thread-safe).

    Args:
        tokenizer: The model's tokenizer.
        model: A BERT-family encoder returning ``last_hidden_state``.
        projection: ColBERT's ``linear`` layer (hidden -> dim, no bias), or None.
        name: What to call the model in logs and health reports.
        conventions: Markers, query augmentation and punctuation skiplist.
        query_maxlen: Query length in tokens (markers and special tokens included).
        doc_maxlen: Passage length in tokens before punctuation is dropped.
        device: Torch device of ``model`` and ``projection``.
        batch_size: Texts per forward pass.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        model: PreTrainedModel,
        projection: nn.Linear | None = None,
        *,
        name: str,
        conventions: TokenConventions,
        query_maxlen: int = 32,
        doc_maxlen: int = 180,
        device: str = "cpu",
        batch_size: int = 32,
    ) -> None:
        if conventions.augment_queries and tokenizer.mask_token_id is None:
            raise ConfigError(
                f"{name}: query augmentation needs a [MASK] token", param="reranker.model"
            )
        self.name = name
        self.query_maxlen = query_maxlen
        self.doc_maxlen = doc_maxlen
        self.batch_size = batch_size
        self._tokenizer = tokenizer
        self._conventions = conventions
        self._device = torch.device(device)
        self._model = model.to(self._device).eval()
        self._projection = projection.to(self._device).eval() if projection else None
        self._skiplist = torch.tensor(sorted(conventions.skiplist), dtype=torch.long)
        # A fast tokenizer mutates its truncation/padding state on every call, so two
        # threads must not tokenize at once ("Already borrowed"); one forward at a time
        # is also what a CPU replica wants.
        self._lock = threading.Lock()

    @property
    def tokenize(self):
        """The model's word-piece tokenizer (chunk budgets are counted in its tokens)."""
        return self._tokenizer.tokenize

    @property
    def dim(self) -> int:
        """Size of the token vectors."""
        if self._projection is not None:
            return self._projection.out_features
        return int(self._model.config.hidden_size)

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        """Token vectors of each query, one forward pass per ``batch_size`` texts.

        Shapes:
            returns one ``[n_tokens, dim]`` float32 array per text; ``n_tokens`` is
            ``query_maxlen`` for ColBERT checkpoints (query augmentation).
        """
        conv = self._conventions
        out: list[np.ndarray] = [np.empty(0)] * len(texts)
        for idx in length_buckets(texts, self.batch_size):
            ids, attention = self._tokenize(
                [texts[i] for i in idx],
                self.query_maxlen,
                conv.query_marker_id,
                pad_to_max=conv.augment_queries,
            )
            if conv.augment_queries:
                ids[ids == self._tokenizer.pad_token_id] = self._tokenizer.mask_token_id
                if conv.attend_to_mask_tokens:
                    attention[ids == self._tokenizer.mask_token_id] = 1
                keep = torch.ones_like(ids, dtype=torch.bool)
            else:
                keep = attention.bool()
            for i, vectors in zip(idx, self._embed(ids, attention, keep), strict=True):
                out[i] = vectors
        return out

    def encode_passages(self, texts: list[str]) -> list[np.ndarray]:
        """Token vectors of each passage without padding and punctuation.

        Shapes:
            returns one ``[n_tokens, dim]`` float32 array per text, ``n_tokens <= doc_maxlen``.
        """
        out: list[np.ndarray] = [np.empty(0)] * len(texts)
        for idx in length_buckets(texts, self.batch_size):
            ids, attention = self._tokenize(
                [texts[i] for i in idx],
                self.doc_maxlen,
                self._conventions.doc_marker_id,
                pad_to_max=False,
            )
            keep = attention.bool() & ~torch.isin(ids, self._skiplist)
            for i, vectors in zip(idx, self._embed(ids, attention, keep), strict=True):
                out[i] = vectors
        return out

    def _tokenize(
        self, texts: list[str], max_length: int, marker: int | None, *, pad_to_max: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with self._lock:
            enc = self._tokenizer(
                texts,
                padding="max_length" if pad_to_max else "longest",
                truncation=True,
                max_length=max_length - (marker is not None),
                return_tensors="pt",
            )
        ids, attention = enc["input_ids"], enc["attention_mask"]
        if marker is not None:  # [CLS] <marker> tokens... [SEP]
            column = torch.full((ids.shape[0], 1), marker, dtype=ids.dtype)
            ids = torch.cat([ids[:, :1], column, ids[:, 1:]], dim=1)
            attention = torch.cat([attention[:, :1], torch.ones_like(column), attention[:, 1:]], 1)
        return ids, attention

    @torch.inference_mode()
    def encode_passages_pooled(
        self, texts: list[str], *, max_length: int
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Dense vectors and token vectors of passages from ONE forward pass.

        The dense vector is the mean of the token states over the attention mask,
        L2-normalised: what sentence-transformers computes for a model whose modules are
        Transformer, mean Pooling and Normalize (all-MiniLM-L6-v2), with its
        ``max_seq_length`` as ``max_length``. The token vectors are those of
        :meth:`encode_passages`, taken from the same pass (its first ``doc_maxlen``
        positions).

        Raises:
            ValueError: This encoder has a projection or markers (a ColBERT checkpoint),
                so its states are not the dense model's.

        Shapes:
            returns ``[len(texts), hidden]`` float32 and one ``[n_tokens, hidden]`` per text.
        """
        conv = self._conventions
        if self._projection is not None or conv.doc_marker_id is not None:
            raise ValueError(f"{self.name}: a ColBERT checkpoint has no pooled dense vector")
        dense = np.zeros((len(texts), self.dim), dtype=np.float32)
        tokens: list[np.ndarray] = [np.empty(0)] * len(texts)
        for idx in length_buckets(texts, self.batch_size):
            ids, attention = self._tokenize(
                [texts[i] for i in idx], max_length, None, pad_to_max=False
            )
            hidden = self._hidden(ids, attention)
            mask = attention.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            dense[idx] = nn.functional.normalize(pooled, p=2, dim=-1).numpy()
            keep = attention.bool() & ~torch.isin(ids, self._skiplist)
            keep[:, self.doc_maxlen :] = False
            for i, vectors in zip(idx, self._select(hidden, keep), strict=True):
                tokens[i] = vectors
        return dense, tokens

    @torch.inference_mode()
    def _hidden(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """One forward pass: the (projected) token states, float32 on the CPU."""
        with self._lock:
            hidden = self._model(
                input_ids=ids.to(self._device), attention_mask=attention.to(self._device)
            ).last_hidden_state
            if self._projection is not None:
                hidden = self._projection(hidden)
        return hidden.float().cpu()

    def _embed(
        self, ids: torch.Tensor, attention: torch.Tensor, keep: torch.Tensor
    ) -> list[np.ndarray]:
        """One forward pass; ``keep`` [B, L] selects the returned rows of each text."""
        return self._select(self._hidden(ids, attention), keep)

    @staticmethod
    def _select(hidden: torch.Tensor, keep: torch.Tensor) -> list[np.ndarray]:
        """The L2-normalised rows ``keep`` selects, per text."""
        vectors = nn.functional.normalize(hidden, p=2, dim=-1).numpy()
        keep_np = keep.numpy()
        return [vectors[i][keep_np[i]] for i in range(vectors.shape[0])]


def load_token_encoder(
    model: str | None = None,
    *,
    query_maxlen: int = 32,
    doc_maxlen: int = 180,
    device: str = "cpu",
    num_threads: int | None = None,
) -> TokenEncoder:
    """Load the packaged MiniLM (``model=None``) or a ColBERT checkpoint (path or hub id).

    Raises:
        ConfigError: The checkpoint cannot be found, has no ``linear.weight`` (not a
            ColBERT checkpoint), or its projection does not match the encoder.
    """
    set_torch_threads(num_threads)
    if model is None:
        path = packaged_model_dir()
        tokenizer = AutoTokenizer.from_pretrained(path)
        conventions = TokenConventions(skiplist=punctuation_ids(tokenizer))
        return TokenEncoder(
            tokenizer,
            load_encoder_model(str(path)),
            None,
            name=PACKAGED_MODEL_NAME,
            conventions=conventions,
            query_maxlen=query_maxlen,
            doc_maxlen=doc_maxlen,
            device=device,
        )

    ckpt = resolve_checkpoint_dir(model)
    weight = load_linear_weight(ckpt)  # fails fast on a plain encoder
    meta = read_artifact_metadata(ckpt)
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    encoder = load_encoder_model(str(ckpt))
    dim, hidden = weight.shape
    if hidden != encoder.config.hidden_size or int(meta.get("dim", dim)) != dim:
        raise ConfigError(
            f"{model!r}: linear.weight {tuple(weight.shape)} does not match hidden size "
            f"{encoder.config.hidden_size} and artifact.metadata dim {meta.get('dim')!r}",
            param="reranker.model",
        )
    for key, given in (("query_maxlen", query_maxlen), ("doc_maxlen", doc_maxlen)):
        if key in meta and meta[key] != given:
            logger.info(
                "%s: using %s=%s (checkpoint trained with %s)", model, key, given, meta[key]
            )
    projection = nn.Linear(hidden, dim, bias=False)
    with torch.no_grad():
        projection.weight.copy_(weight)
    conventions = TokenConventions(
        query_marker_id=marker_token_id(tokenizer, meta.get("query_token_id", "[unused0]")),
        doc_marker_id=marker_token_id(tokenizer, meta.get("doc_token_id", "[unused1]")),
        augment_queries=True,
        attend_to_mask_tokens=bool(meta.get("attend_to_mask_tokens", False)),
        skiplist=punctuation_ids(tokenizer) if meta.get("mask_punctuation", True) else frozenset(),
    )
    return TokenEncoder(
        tokenizer,
        encoder,
        projection,
        name=model,
        conventions=conventions,
        query_maxlen=query_maxlen,
        doc_maxlen=doc_maxlen,
        device=device,
    )


def length_buckets(texts: list[str], size: int) -> Iterator[list[int]]:
    """Indices of ``texts`` in batches of ``size``, shortest texts first.

    Texts of similar length share a padded forward pass, so short ones are not padded
    to the longest of a mixed batch (length in characters, a cheap proxy for tokens).

    >>> list(length_buckets(["aaaa", "b", "cc", "ddd"], 2))
    [[1, 2], [3, 0]]
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), size):
        yield order[start : start + size]


def token_encoder_from(cfg: TokenEncoderConfig) -> TokenEncoder:
    """:func:`load_token_encoder` with a stage's :class:`TokenEncoderConfig`."""
    return load_token_encoder(
        cfg.model,
        query_maxlen=cfg.query_maxlen,
        doc_maxlen=cfg.doc_maxlen,
        device=resolve_device(cfg.device),
        num_threads=cfg.num_threads,
    )

"""MaxSim late-interaction scoring (ColBERT), in plain numpy.

For one query ``Q`` (``Lq`` token vectors) and one document ``D`` (``Ld`` token vectors),
``MaxSim(Q, D) = sum_i max_j <Q_i, D_j>``. Token vectors are assumed L2-normalised, so
each term is a cosine similarity in [-1, 1].

An empty document (0 tokens) scores 0.0 rather than -inf: it carries no evidence, and a
finite score keeps the result JSON-serialisable. Real passages never hit this case
because the encoder keeps [CLS] and [SEP].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pad_tokens(docs: Sequence[np.ndarray], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack variable-length token matrices into one zero-padded array and a mask.

    Args:
        docs: Token matrices, one per document.
        dim: Token vector size ``d`` (needed when ``docs`` is empty).

    Returns:
        ``(D, d_mask)``: the padded stack and which rows are real tokens.

    Shapes:
        docs[i]: ``[Ld_i, d]``; D: ``[N, max_i Ld_i, d]`` (float32); d_mask: ``[N, max Ld_i]``.

    Example:
        >>> D, mask = pad_tokens([np.ones((2, 3)), np.ones((1, 3))], dim=3)
        >>> D.shape, mask.tolist()
        ((2, 2, 3), [[True, True], [True, False]])
    """
    for i, doc in enumerate(docs):
        if doc.ndim != 2 or doc.shape[1] != dim:
            raise ValueError(
                f"docs[{i}] must have shape [n_tokens, {dim}], got {doc.shape}; "
                "were query and passages encoded by the same model?"
            )
    max_len = max((doc.shape[0] for doc in docs), default=0)
    stacked = np.zeros((len(docs), max_len, dim), dtype=np.float32)
    mask = np.zeros((len(docs), max_len), dtype=bool)
    for i, doc in enumerate(docs):
        stacked[i, : doc.shape[0]] = doc
        mask[i, : doc.shape[0]] = True
    return stacked, mask


def maxsim_padded(
    queries: np.ndarray, q_mask: np.ndarray, docs: np.ndarray, d_mask: np.ndarray
) -> np.ndarray:
    """MaxSim of every query against every document, on padded batches.

    Masked query tokens add nothing; masked document tokens are never the max. A
    document without any real token scores 0.0.

    Args:
        queries: Padded query token vectors.
        q_mask: True where a query row is a real token.
        docs: Padded document token vectors.
        d_mask: True where a document row is a real token.

    Returns:
        Scores, float32.

    Shapes:
        queries: ``[B, Lq, d]``; q_mask: ``[B, Lq]``; docs: ``[N, Ld, d]``;
        d_mask: ``[N, Ld]``; returns ``[B, N]``.

    Example:
        >>> Q = np.array([[[1.0, 0.0], [0.0, 1.0]]])            # 1 query, 2 tokens
        >>> D = np.array([[[1.0, 0.0], [0.6, 0.8]], [[0.0, 1.0], [0.0, 0.0]]])
        >>> maxsim_padded(Q, np.array([[True, True]]), D, np.array([[True, True], [True, False]]))
        array([[1.8, 1. ]], dtype=float32)
    """
    b, lq, d = queries.shape
    n, ld, _ = docs.shape
    # One BLAS matmul over every (document token, query token) pair; np.einsum without
    # path optimisation would loop in C instead, about 2x slower at rerank sizes.
    flat = docs.reshape(n * ld, d).astype(np.float32, copy=False)
    sims = (flat @ queries.reshape(b * lq, d).astype(np.float32, copy=False).T).reshape(
        n, ld, b, lq
    )
    sims = np.where(d_mask[:, :, None, None], sims, -np.inf)
    best = sims.max(axis=1, initial=-np.inf).transpose(1, 0, 2)  # [B, N, Lq]
    best = np.where(q_mask[:, None, :] & np.isfinite(best), best, 0.0)
    return best.sum(axis=-1).astype(np.float32)


def maxsim(query: np.ndarray, docs: Sequence[np.ndarray]) -> np.ndarray:
    """MaxSim of one query against each document.

    Args:
        query: The query's token vectors (L2-normalised).
        docs: Each document's token vectors (L2-normalised); may differ in length.

    Returns:
        One score per document, float32.

    Shapes:
        query: ``[Lq, d]``; docs[i]: ``[Ld_i, d]``; returns ``[N]``.

    Example:
        >>> q = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> d1 = np.array([[1.0, 0.0]])                  # matches token 0 only: 1 + 0
        >>> d2 = np.array([[0.6, 0.8], [0.0, 1.0]])      # 0.6 + 1.0
        >>> maxsim(q, [d1, d2, np.zeros((0, 2))])
        array([1. , 1.6, 0. ], dtype=float32)
    """
    if query.ndim != 2:
        raise ValueError(f"query must have shape [n_tokens, dim], got {query.shape}")
    stacked, d_mask = pad_tokens(docs, dim=query.shape[1])
    q_mask = np.ones((1, query.shape[0]), dtype=bool)
    return maxsim_padded(query[None].astype(np.float32), q_mask, stacked, d_mask)[0]

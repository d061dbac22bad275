"""Compact text encoding of passage token matrices, for a Milvus VARCHAR field.

Each token vector is quantised to int8 with its own float16 scale (symmetric:
``scale = max|x| / 127``, ``q = round(x / scale)``). The bytes are::

    header  <B H H>   format byte (0xC1: version 1), n_tokens, dim   (5 bytes)
    scales  <f2>      n_tokens float16 scales
    codes   i1        n_tokens * dim int8 codes, row-major

and the whole is base64-encoded, so a blob of ``n`` tokens of dimension ``d`` takes
``4 * ceil((5 + n * (d + 2)) / 3)`` characters: 378 tokens of 128-d or 127 tokens of
384-d fit the 65,535-character VARCHAR limit.
"""

from __future__ import annotations

import base64
import binascii
import struct

import numpy as np

FORMAT_BYTE = 0xC1
VARCHAR_MAX_CHARS = 65535
_HEADER = struct.Struct("<BHH")
_MAX_U16 = 0xFFFF


def max_tokens_for(dim: int, max_chars: int = VARCHAR_MAX_CHARS) -> int:
    """How many token vectors of size ``dim`` fit in ``max_chars`` base64 characters.

    Example:
        >>> max_tokens_for(128), max_tokens_for(384)
        (378, 127)
        >>> len(encode_tokens(np.ones((378, 128), dtype=np.float32))) <= 65535
        True
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim!r}")
    max_bytes = (max_chars // 4) * 3
    return max(0, min(_MAX_U16, (max_bytes - _HEADER.size) // (dim + 2)))


def encode_tokens(m: np.ndarray, max_chars: int = VARCHAR_MAX_CHARS) -> str:
    """Quantise and pack a token matrix into a base64 string.

    Args:
        m: Token vectors, finite values.
        max_chars: Longest string allowed; truncate ``m`` to ``max_tokens_for(dim)``
            rows first if it may be longer.

    Returns:
        The ASCII blob, at most ``max_chars`` characters.

    Raises:
        ValueError: ``m`` is not a finite 2-D matrix, or it does not fit ``max_chars``.

    Shapes:
        m: ``[n_tokens, dim]``.

    Example:
        >>> blob = encode_tokens(np.array([[0.6, -0.8], [0.0, 0.0]]))
        >>> decode_tokens(blob).astype(float).round(2).tolist()
        [[0.6, -0.8], [0.0, 0.0]]
    """
    m = np.asarray(m)
    if m.ndim != 2:
        raise ValueError(f"token matrix must be 2-D [n_tokens, dim], got shape {m.shape}")
    n, dim = m.shape
    if dim < 1 or dim > _MAX_U16:
        raise ValueError(f"token matrix dim must be in 1..{_MAX_U16}, got {dim}")
    if not np.all(np.isfinite(m)):
        raise ValueError("token matrix contains NaN or infinite values")
    limit = max_tokens_for(dim, max_chars)
    if n > limit:
        raise ValueError(
            f"{n} tokens of dim {dim} do not fit in {max_chars} characters (at most {limit}); "
            f"truncate with m[:max_tokens_for({dim})] first"
        )
    x = m.astype(np.float32)
    scales = (np.abs(x).max(axis=1, initial=0.0) / 127.0).astype(np.float16)
    safe = np.where(scales > 0, scales.astype(np.float32), 1.0)[:, None]
    codes = np.clip(np.rint(x / safe), -127, 127).astype(np.int8)
    raw = _HEADER.pack(FORMAT_BYTE, n, dim) + scales.astype("<f2").tobytes() + codes.tobytes()
    return base64.b64encode(raw).decode("ascii")


def decode_tokens(s: str) -> np.ndarray:
    """Unpack a blob made by :func:`encode_tokens`.

    Args:
        s: The base64 blob.

    Returns:
        The dequantised token vectors, float32.

    Raises:
        ValueError: ``s`` is not valid base64 or not a blob of this format.

    Shapes:
        returns ``[n_tokens, dim]``.
    """
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"token blob is not valid base64: {exc}") from exc
    if len(raw) < _HEADER.size:
        raise ValueError(f"token blob too short for its header ({len(raw)} bytes)")
    fmt, n, dim = _HEADER.unpack_from(raw)
    if fmt != FORMAT_BYTE:
        raise ValueError(
            f"token blob has bad magic/version byte 0x{fmt:02X} (expected 0x{FORMAT_BYTE:02X}); "
            "it was not written by deployments.common.codec"
        )
    expected = _HEADER.size + n * (dim + 2)
    if len(raw) != expected:
        raise ValueError(
            f"token blob length {len(raw)} bytes does not match its header "
            f"({n} tokens x dim {dim} = {expected} bytes); the blob is truncated or corrupt"
        )
    scales = np.frombuffer(raw, dtype="<f2", count=n, offset=_HEADER.size).astype(np.float32)
    codes = np.frombuffer(raw, dtype=np.int8, offset=_HEADER.size + 2 * n).reshape(n, dim)
    return codes.astype(np.float32) * scales[:, None]

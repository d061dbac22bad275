import base64

import numpy as np
import pytest

from deployments.common.codec import (
    VARCHAR_MAX_CHARS,
    decode_tokens,
    encode_tokens,
    max_tokens_for,
)


def _unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("dim", [16, 128, 384])
def test_round_trip_keeps_every_token_direction(dim):
    m = _unit(50, dim)
    out = decode_tokens(encode_tokens(m))
    assert out.dtype == np.float32 and out.shape == m.shape
    cosine = (out * m).sum(axis=1) / np.linalg.norm(out, axis=1)
    assert cosine.min() > 0.99
    # symmetric int8 per token: error at most half a quantisation step (+ float16 scale)
    step = np.abs(m).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(out - m) <= 0.51 * step + 1e-3 * np.abs(m))


def test_zero_rows_and_empty_matrix_round_trip():
    m = np.zeros((3, 4), np.float32)
    assert np.array_equal(decode_tokens(encode_tokens(m)), m)
    assert decode_tokens(encode_tokens(np.zeros((0, 4)))).shape == (0, 4)


@pytest.mark.parametrize("dim", [16, 128, 384, 768])
def test_max_tokens_is_the_exact_fit(dim):
    n = max_tokens_for(dim)
    assert len(encode_tokens(_unit(n, dim))) <= VARCHAR_MAX_CHARS
    with pytest.raises(ValueError, match=rf"at most {n}.*max_tokens_for\({dim}\)"):
        encode_tokens(_unit(n + 1, dim))


def test_size_is_about_one_byte_per_value():
    blob = encode_tokens(_unit(100, 128))
    assert len(blob) == 4 * -(-(5 + 100 * 130) // 3)


def test_custom_limit_and_truncation_helper():
    m = _unit(40, 32)
    limit = max_tokens_for(32, max_chars=1000)
    blob = encode_tokens(m[:limit], max_chars=1000)
    assert len(blob) <= 1000
    assert decode_tokens(blob).shape == (limit, 32)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.ones(4), "2-D"),
        (np.ones((2, 2, 2)), "2-D"),
        (np.array([[np.nan, 1.0]]), "NaN"),
    ],
)
def test_bad_matrix_is_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        encode_tokens(bad)


def test_bad_blobs_name_the_problem():
    raw = bytearray(base64.b64decode(encode_tokens(_unit(2, 8))))
    raw[0] = 0x00
    with pytest.raises(ValueError, match="magic"):
        decode_tokens(base64.b64encode(bytes(raw)).decode())
    good = encode_tokens(_unit(2, 8))
    truncated = base64.b64encode(base64.b64decode(good)[:-3]).decode()
    with pytest.raises(ValueError, match="does not match its header"):
        decode_tokens(truncated)
    with pytest.raises(ValueError, match="base64"):
        decode_tokens("not base64 !!")
    with pytest.raises(ValueError, match="too short"):
        decode_tokens("")

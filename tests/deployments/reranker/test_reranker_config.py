import pytest
from pydantic import ValidationError

from deployments.reranker.config import RerankerConfig


def test_defaults_use_packaged_model():
    cfg = RerankerConfig()
    assert cfg.model is None
    assert (cfg.query_maxlen, cfg.doc_maxlen, cfg.max_batch_size) == (32, 180, 16)
    assert cfg.batch_wait_timeout_s == 0.005
    assert cfg.num_threads is None


def test_every_field_is_described():
    for name, field in RerankerConfig.model_fields.items():
        assert field.description, name


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("query_maxlen", 0),
        ("query_maxlen", 513),
        ("doc_maxlen", 2),
        ("max_batch_size", 0),
        ("max_batch_size", 257),
        ("batch_wait_timeout_s", -0.1),
        ("batch_wait_timeout_s", 1.5),
        ("num_threads", 0),
    ],
)
def test_out_of_range_values_name_the_field(field, value):
    with pytest.raises(ValidationError) as info:
        RerankerConfig(**{field: value})
    assert info.value.errors()[0]["loc"] == (field,)


def test_unknown_field_is_rejected():
    with pytest.raises(ValidationError, match="top_k"):
        RerankerConfig(top_k=5)


def test_blank_model_is_rejected_with_a_fix():
    with pytest.raises(ValidationError, match="omit it"):
        RerankerConfig(model=" ")


def test_model_is_stripped():
    assert RerankerConfig(model=" /ckpt/colbert ").model == "/ckpt/colbert"

"""TokenEncoder on a tiny ColBERT checkpoint built here and on the packaged MiniLM."""

import json
import shutil
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer, BertConfig, BertModel

from deployments.common.encoders.checkpoint import packaged_model_dir
from deployments.common.encoders.tokens import TokenEncoder, load_token_encoder
from deployments.errors import ConfigError
from deployments.reranker.maxsim import maxsim

QUERY_MAXLEN, DOC_MAXLEN, DIM = 8, 12, 16
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


class TinyColBERT(torch.nn.Module):
    """The colbert-ir HF_ColBERT module layout: `bert` + `linear` (no bias)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.bert = BertModel(config)
        self.linear = torch.nn.Linear(config.hidden_size, DIM, bias=False)


def _copy_tokenizer(target: Path) -> None:
    for name in TOKENIZER_FILES:
        shutil.copy(packaged_model_dir() / name, target / name)


@pytest.fixture(scope="module")
def tiny_colbert(tmp_path_factory) -> tuple[Path, TinyColBERT]:
    path = tmp_path_factory.mktemp("tiny_colbert")
    _copy_tokenizer(path)
    vocab = len(AutoTokenizer.from_pretrained(path))
    config = BertConfig(
        vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, architectures=["HF_ColBERT"],
    )  # fmt: skip
    torch.manual_seed(0)
    module = TinyColBERT(config).eval()
    save_file(
        {k: v.contiguous() for k, v in module.state_dict().items()}, path / "model.safetensors"
    )
    config.save_pretrained(path)
    metadata = {
        "dim": DIM, "query_maxlen": 32, "doc_maxlen": 180, "query_token_id": "[unused0]",
        "doc_token_id": "[unused1]", "mask_punctuation": True, "attend_to_mask_tokens": False,
    }  # fmt: skip
    (path / "artifact.metadata").write_text(json.dumps(metadata))
    return path, module


@pytest.fixture(scope="module")
def colbert_encoder(tiny_colbert) -> TokenEncoder:
    return load_token_encoder(
        str(tiny_colbert[0]), query_maxlen=QUERY_MAXLEN, doc_maxlen=DOC_MAXLEN
    )


@pytest.fixture(scope="module")
def minilm() -> TokenEncoder:
    return load_token_encoder(None)


def _reference(module: TinyColBERT, ids: list[int], attention: list[int]) -> np.ndarray:
    """BERT forward + linear + L2 normalisation, straight from the saved module."""
    with torch.inference_mode():
        hidden = module.bert(
            input_ids=torch.tensor([ids]), attention_mask=torch.tensor([attention])
        ).last_hidden_state
        out = torch.nn.functional.normalize(module.linear(hidden), dim=-1)
    return out[0].numpy()


def test_colbert_checkpoint_applies_projection_and_conventions(tiny_colbert, colbert_encoder):
    path, module = tiny_colbert
    tok = AutoTokenizer.from_pretrained(path)
    cls_id, sep_id, mask_id = tok.cls_token_id, tok.sep_token_id, tok.mask_token_id
    q_marker, d_marker = tok.convert_tokens_to_ids(["[unused0]", "[unused1]"])
    query, docs = "where is paris?", ["Paris is in France.", "Bananas, apples; pears!"]

    assert colbert_encoder.dim == DIM
    (q_vecs,) = colbert_encoder.encode_queries([query])
    d_vecs = colbert_encoder.encode_passages(docs)

    # Query: [CLS] [unused0] tokens [SEP], then [MASK] up to query_maxlen (not attended).
    body = tok.encode(query, add_special_tokens=False)
    q_ids = [cls_id, q_marker, *body, sep_id]
    n_real = len(q_ids)
    q_ref = _reference(
        module,
        q_ids + [mask_id] * (QUERY_MAXLEN - n_real),
        [1] * n_real + [0] * (QUERY_MAXLEN - n_real),
    )
    assert q_vecs.shape == (QUERY_MAXLEN, DIM)
    np.testing.assert_allclose(q_vecs, q_ref, atol=1e-5)

    # Passages: [CLS] [unused1] tokens [SEP]; punctuation rows dropped after the forward.
    punct = {tok.encode(p, add_special_tokens=False)[0] for p in string.punctuation}
    d_ref = []
    for doc, vecs in zip(docs, d_vecs, strict=True):
        ids = [cls_id, d_marker, *tok.encode(doc, add_special_tokens=False), sep_id]
        full = _reference(module, ids, [1] * len(ids))
        kept = [i for i, t in enumerate(ids) if t not in punct]
        assert len(kept) < len(ids)  # every doc here has punctuation
        d_ref.append(full[kept])
        np.testing.assert_allclose(vecs, full[kept], atol=1e-5)

    for vecs in [q_vecs, *d_vecs]:
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(maxsim(q_vecs, d_vecs), maxsim(q_ref, d_ref), rtol=1e-5)


def test_colbert_truncates_long_texts(colbert_encoder):
    long_text = " ".join(["word"] * 100)
    (q,) = colbert_encoder.encode_queries([long_text])
    (d,) = colbert_encoder.encode_passages([long_text])
    assert q.shape == (QUERY_MAXLEN, DIM)
    assert d.shape == (DOC_MAXLEN, DIM)


def test_one_forward_pass_per_batch_and_chunks_agree(colbert_encoder, monkeypatch):
    forwards = []
    model = colbert_encoder._model
    monkeypatch.setattr(model, "forward", _spy(model.forward, forwards))
    texts = [f"passage number {i} about topic {i % 3}" for i in range(5)]
    together = colbert_encoder.encode_passages(texts)
    assert len(forwards) == 1
    monkeypatch.setattr(colbert_encoder, "batch_size", 2)
    chunked = colbert_encoder.encode_passages(texts)
    assert len(forwards) == 1 + 3
    for a, b in zip(together, chunked, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert colbert_encoder.encode_queries([]) == []


def _spy(forward, calls: list):
    def wrapped(*args, **kwargs):
        calls.append(1)
        return forward(*args, **kwargs)

    return wrapped


def test_directory_without_linear_weight_is_not_colbert(tmp_path):
    _copy_tokenizer(tmp_path)
    config = BertConfig(
        vocab_size=100, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
        intermediate_size=16,
    )  # fmt: skip
    BertModel(config).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="not a ColBERT checkpoint.*linear.weight") as info:
        load_token_encoder(str(tmp_path))
    assert info.value.param == "reranker.model"


def test_missing_directory_and_unreachable_hub_id(tmp_path, monkeypatch):
    import huggingface_hub.constants

    with pytest.raises(ConfigError, match="not a directory"):
        load_token_encoder(str(tmp_path / "missing"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match="neither a local directory"):
        load_token_encoder("example-org/not-a-cached-colbert")


def test_minilm_ranks_relevant_passage_first(minilm):
    assert minilm.dim == 384
    (query,) = minilm.encode_queries(["what causes the seasons on earth?"])
    relevant, unrelated = minilm.encode_passages(
        [
            "The tilt of the Earth's axis causes the seasons.",
            "Cook the pasta in salted boiling water until al dente.",
        ]
    )
    assert query.shape[0] < 32  # plain tokenisation: no [MASK] augmentation
    scores = maxsim(query, [relevant, unrelated])
    assert scores[0] > scores[1]


def test_minilm_passages_drop_punctuation_and_padding(minilm):
    short, long = minilm.encode_passages(["Hello, world!", "a much longer passage of text"])
    assert short.shape == (4, 384)  # [CLS] hello world [SEP]
    assert long.shape == (8, 384)
    np.testing.assert_allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-5)


def test_length_buckets_keep_each_text_in_its_slot(minilm, monkeypatch):
    texts = [
        "a long passage about protein folding in yeast cells under heat stress conditions",
        "short one",
        "medium length text on mice",
        "x",
    ]
    alone = [minilm.encode_passages([t])[0] for t in texts]
    monkeypatch.setattr(minilm, "batch_size", 2)
    for got, want in zip(minilm.encode_passages(texts), alone, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4)
    queries = [minilm.encode_queries([t])[0] for t in texts]
    for got, want in zip(minilm.encode_queries(texts), queries, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4)

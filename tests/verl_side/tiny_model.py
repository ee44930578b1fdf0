"""Write a model folder verl can read offline: a byte-level tokenizer and a tiny Llama config.

verl resolves ``actor_rollout_ref.model.path`` (and the critic's) while validating the config
(``HFModelConfig`` reads its ``config.json``) and its reward workers decode responses with that
model's tokenizer; a hub id would need the network. Byte-level with no merges: every text
round-trips exactly, in every script, so the reward sees exactly the response the test wrote.
No weights: nothing here runs the model.

    python tiny_model.py DIR
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, PreTrainedTokenizerFast

    out = Path(sys.argv[1])
    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for special in ("<pad>", "<eos>"):
        vocab[special] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")
    fast.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    fast.save_pretrained(out)
    LlamaConfig(
        architectures=["LlamaForCausalLM"],
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["<eos>"],
        bos_token_id=vocab["<eos>"],
    ).save_pretrained(out)
    text = "Jibu: 11 — ½ 中文"
    assert fast.decode(fast(text)["input_ids"]) == text, "the byte-level tokenizer must round-trip"


if __name__ == "__main__":
    main()

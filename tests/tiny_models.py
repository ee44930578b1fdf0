"""Tiny random models built inside the tests (no hub, no weights on disk)."""

from __future__ import annotations

from typing import Any

WORDS = [
    "the",
    "answer",
    "is",
    "roger",
    "had",
    "balls",
    "he",
    "bought",
    "cans",
    "of",
    "each",
    "so",
    "jibu",
    "ni",
    "alikuwa",
    "na",
    "mipira",
    "die",
    "antwort",
    "lautet",
    "la",
    "respuesta",
    "es",
    "réponse",
    "est",
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    ".",
    ",",
    "=",
    "+",
    "*",
    "$",
]


def word_tokenizer(extra_specials: tuple[str, ...] = ()) -> Any:
    """A PreTrainedTokenizerFast over a small word-level vocabulary."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>", *extra_specials]
    vocab = {tok: i for i, tok in enumerate([*specials, *dict.fromkeys(WORDS)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


def tiny_seq2seq(seed: int = 0) -> tuple[Any, Any]:
    """A 2-layer BART with a word tokenizer: a stand-in for NLLB/Marian in unit tests."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(seed)
    tok = word_tokenizer()
    cfg = BartConfig(
        vocab_size=len(tok),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=600,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.bos_token_id,
        forced_eos_token_id=None,
    )
    return BartForConditionalGeneration(cfg).eval(), tok

"""Tiny random Hugging Face models with in-memory tokenizers (no download): real code paths, fast."""
from __future__ import annotations

from pathlib import Path

WORDS = ("the a of and to in is movie game book user history preference overview genre director actor "
         "comedy drama action title year stars rating your task summarize craft detailed analyze please "
         "given whose over time listed below factors like covering aspects such as").split()
SPECIALS = ["<unk>", "<pad>", "<s>", "</s>", "<|user|>", "<|system|>", "<|assistant|>"]
CHAT = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def tiny_tokenizer(extra_words=()):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for w in list(WORDS) + list(extra_words) + list("0123456789\"'[](),.;:!?-"):
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", additional_special_tokens=SPECIALS[4:])
    fast.chat_template = CHAT
    return fast


def tiny_llama_dir(folder: Path, seed: int = 0, **config) -> Path:
    """A 2-layer, 32-wide random Llama with a chat template, saved like any HF model directory; ``config``
    overrides LlamaConfig fields (e.g. num_key_value_heads for grouped-query attention)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer()
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    for field, value in config.items():
        setattr(cfg, field, value)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def tiny_bert_dir(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-wide random BERT encoder with a word-level tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    tok = tiny_tokenizer()
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=2, max_position_embeddings=512, pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    BertModel(cfg).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder

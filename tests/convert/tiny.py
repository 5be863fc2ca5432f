"""Tiny random models, built from a config, with real (tiny, trained here) tokenizers."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
LLAMA3_RE = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_RE = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def corpus() -> list[str]:
    from convert.verify.texts import BASE_TEXTS, HELD_OUT

    lines = [line for line in Path(__file__).read_text(encoding="utf-8").splitlines() if line.strip()]
    return [*BASE_TEXTS, HELD_OUT, *lines] * 2


def bpe_tokenizer(folder: Path, style: str, vocab_size: int = 400) -> Any:
    """A byte-level BPE tokenizer with the pre-tokenizer of ``style`` (llama3 / qwen2 / smollm)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(ignore_merges=(style == "llama3")))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if style == "llama3":
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(LLAMA3_RE), behavior="isolated"), byte_level])
    elif style == "qwen2":
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(QWEN2_RE), behavior="isolated"), byte_level])
    elif style == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    elif style == "unknown":
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(r"[A-Z]+|[a-z]+|\s+|."), behavior="isolated"), byte_level])
    else:
        raise ValueError(style)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>" if style == "smollm" else "<|endoftext|>",
                                 eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None)
    hf.chat_template = CHATML
    hf.save_pretrained(folder)
    return hf


def spm_model(path: Path, vocab_size: int = 640, style: str = "gemma") -> Path:
    """A SentencePiece BPE model with byte fallback: Gemma's pieces (no dummy prefix), or Llama 2's
    (``<unk> <s> </s>``, a dummy prefix ``▁`` before the text)."""
    import sentencepiece as spm

    buf = io.BytesIO()
    if style == "gemma":
        specials: dict[str, Any] = dict(pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>",
                                        bos_piece="<bos>", unk_piece="<unk>", add_dummy_prefix=False,
                                        user_defined_symbols=["<start_of_turn>", "<end_of_turn>"])
    else:
        specials = dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1, add_dummy_prefix=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()), model_writer=buf, vocab_size=vocab_size, model_type="bpe",
        byte_fallback=True, character_coverage=0.99, split_digits=True, remove_extra_whitespaces=False,
        normalization_rule_name="identity", allow_whitespace_only_pieces=True, minloglevel=3, **specials,
    )
    path.write_bytes(buf.getvalue())
    return path


def _spm_vocab_merges(model_path: Path) -> tuple[dict[str, int], list[Any]]:
    """vocab + merges ordered by piece score, as transformers derives them from a SentencePiece model."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model_path))
    vocab = {sp.id_to_piece(i): i for i in range(sp.vocab_size())}
    merges = []
    for piece, pid in vocab.items():
        if sp.is_control(pid) or sp.is_byte(pid) or sp.is_unknown(pid) or len(piece) < 2:
            continue
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab:
                merges.append((-sp.get_score(pid), vocab[left], vocab[right], left, right))
    merges.sort()
    return vocab, [(m[3], m[4]) for m in merges]


def llama_spm_tokenizer(folder: Path, metaspace_first: bool = False) -> Any:
    """A Llama 2 / TinyLlama / Mistral style tokenizer (tokenizer.model plus the tokenizer.json those
    repositories ship: Prepend + Replace normalizer, byte fallback), extended with ChatML tokens the
    way a fine-tune adds them."""
    from tokenizers import Tokenizer, decoders, models, normalizers, processors
    from transformers import PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = _spm_vocab_merges(spm_model(folder / "tokenizer.model", style="llama"))
    core = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True, fuse_unk=True, unk_token="<unk>"))
    if metaspace_first:  # what transformers' LlamaTokenizer(legacy=False) builds
        from tokenizers import pre_tokenizers

        core.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    else:
        core.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    core.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                      decoders.Strip(" ", 1, 0)])
    core.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.eos_token = "<|im_end|>"
    tok.chat_template = CHATML
    tok.save_pretrained(folder)
    return tok


def gemma_tokenizer(folder: Path, keep_model: bool) -> Any:
    """Gemma's tokenizer over a SentencePiece model; ``keep_model`` keeps tokenizer.model beside tokenizer.json."""
    from transformers import GemmaTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    model_path = spm_model(folder / "tokenizer.model")
    vocab, pairs = _spm_vocab_merges(model_path)
    tok = GemmaTokenizer(vocab=vocab, merges=pairs, bos_token="<bos>", eos_token="<eos>",
                         pad_token="<pad>", unk_token="<unk>", add_bos_token=True)
    tok.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    tok.chat_template = GEMMA_TEMPLATE
    if not keep_model:
        model_path.unlink()
    tok.save_pretrained(folder)
    return tok


def model(folder: Path, arch: str, tok: Any, *, tied: bool = True, seed: int = 0, dtype: str = "float32",
          hidden: int = 64, layers: int = 2) -> Path:
    """A random model of ``arch`` sized for the tokenizer, saved with it into ``folder``."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig, MistralConfig, Qwen2Config

    n_vocab = len(tok)
    common: dict[str, Any] = dict(vocab_size=n_vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                  tie_word_embeddings=tied, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                  pad_token_id=tok.pad_token_id, initializer_range=0.2)
    if arch == "llama":
        cfg: Any = LlamaConfig(**common, rms_norm_eps=1e-5)
    elif arch == "mistral":
        cfg = MistralConfig(**common, rms_norm_eps=1e-5, sliding_window=None, head_dim=16)
    elif arch == "qwen2":
        cfg = Qwen2Config(**common, rms_norm_eps=1e-6)
    elif arch == "gemma3":
        cfg = Gemma3TextConfig(**common, head_dim=16, query_pre_attn_scalar=16, sliding_window=8,
                               layer_types=["sliding_attention", "full_attention"])
        cfg.architectures = ["Gemma3ForCausalLM"]
    else:
        raise ValueError(arch)
    torch.manual_seed(seed)
    m = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    with torch.no_grad():  # norms away from 1 and biases away from 0, so a wrong transform shows
        for p in m.parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
    m = m.to(getattr(torch, dtype))
    m.generation_config.eos_token_id = tok.convert_tokens_to_ids(
        "<end_of_turn>" if arch == "gemma3" else "<|im_end|>")
    m.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder

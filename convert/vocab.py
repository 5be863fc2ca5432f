"""The tokenizer, as llama.cpp wants it: tokens, types, scores/merges, special ids, chat template.

Three sources, in this order:
- a byte-level BPE ``tokenizer.json`` (GPT-2 style: Llama 3, Qwen2, SmolLM): ``tokenizer.ggml.model =
  gpt2``, merges, and a pre-tokenizer name derived from its split patterns (pretokenizer.py);
- a SentencePiece ``tokenizer.model`` (Llama 2, Mistral, Gemma): ``llama``, with the piece scores;
- an SPM-style ``tokenizer.json`` (BPE with byte fallback over ``▁``-escaped text, as transformers
  saves Gemma/Llama 2 tokenizers): ``llama``, scores from the merge ranks.
Added tokens marked special (a fine-tune's end-of-turn token among them) become control tokens.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import gguf

from convert import checks
from convert.errors import ConvertError
from convert.pretokenizer import derive
from convert.vocab_types import LOOKS_SPECIAL, T, Vocab, read_tokenizer_json

_BYTE = re.compile(r"<0x[0-9A-Fa-f]{2}>")


def _is_byte_level(tj: dict[str, Any]) -> bool:
    blob = json.dumps([tj.get("pre_tokenizer"), tj.get("decoder")])
    return '"ByteLevel"' in blob


def load_vocab(folder: Path, n_vocab: int | None, *, template_override: str | None = None) -> Vocab:
    tj = read_tokenizer_json(folder / "tokenizer.json")
    tc = read_tokenizer_json(folder / "tokenizer_config.json")
    model = (tj.get("model") or {}) if tj else {}
    if tj and model.get("type") == "BPE" and _is_byte_level(tj):
        vocab = _bpe(folder, tj, tc, n_vocab)
    elif (folder / "tokenizer.model").is_file():
        vocab = _sentencepiece(folder, tj, tc, n_vocab)
    elif tj and model.get("type") == "BPE" and model.get("byte_fallback"):
        vocab = _spm_json(folder, tj, n_vocab)
    else:
        kind = model.get("type", "unknown") if tj else "none"
        raise ConvertError(
            f"The tokenizer in {folder} ({kind}) is neither byte-level BPE nor SentencePiece; "
            "convert supports those two (save it with a fast tokenizer, or add tokenizer.model)."
        )
    from convert.specials import chat_template, set_specials

    vocab.chat_template = template_override or chat_template(folder, tc)
    set_specials(vocab, folder, tj, tc, vocab.chat_template)
    return vocab


def _added(tj: dict[str, Any], tc: dict[str, Any]) -> dict[int, tuple[str, bool]]:
    """id -> (content, special) from tokenizer.json, else tokenizer_config's added_tokens_decoder."""
    out: dict[int, tuple[str, bool]] = {}
    for entry in tj.get("added_tokens") or []:
        out[int(entry["id"])] = (entry["content"], bool(entry.get("special")))
    for key, entry in (tc.get("added_tokens_decoder") or {}).items():
        out.setdefault(int(key), (entry["content"], bool(entry.get("special"))))
    return out


def _check_ids(ids: list[int], folder: Path) -> None:
    """Token ids become list indices: refuse a hostile one before a list that long is allocated."""
    for tid in ids:
        checks.check_token_id(tid, folder)


def _added_type(content: str, special: bool) -> int:
    return T.CONTROL if special or LOOKS_SPECIAL.match(content) else T.USER_DEFINED


def _pad(tokens: list[str | None], types: list[int], n_vocab: int | None, where: Path) -> tuple[list[str], list[int]]:
    if n_vocab is None:
        n_vocab = len(tokens)
    if len(tokens) > n_vocab:
        raise ConvertError(
            f"The tokenizer in {where} has {len(tokens)} tokens but the model's embedding has {n_vocab} rows; "
            "call model.resize_token_embeddings(len(tokenizer)) before saving."
        )
    out_tokens: list[str] = []
    out_types: list[int] = []
    for i in range(n_vocab):
        tok = tokens[i] if i < len(tokens) else None
        if tok is None:
            out_tokens.append(f"[PAD{i}]")
            out_types.append(T.UNUSED)
        else:
            out_tokens.append(tok)
            out_types.append(types[i])
    return out_tokens, out_types


def _bpe(folder: Path, tj: dict[str, Any], tc: dict[str, Any], n_vocab: int | None) -> Vocab:
    base: dict[str, int] = tj["model"]["vocab"]
    added = _added(tj, tc)
    _check_ids([*base.values(), *added.keys()], folder)
    size = max([*base.values(), *added.keys()]) + 1
    tokens: list[str | None] = [None] * size
    types: list[int] = [int(T.NORMAL)] * size
    for text, tid in base.items():
        tokens[tid] = text
    for tid, (content, special) in added.items():
        tokens[tid] = content
        types[tid] = _added_type(content, special)
    n_real = sum(t is not None for t in tokens)
    out_tokens, out_types = _pad(tokens, types, n_vocab, folder)
    merges = gguf.SpecialVocab(folder, load_merges=True, n_vocab=len(out_tokens)).merges
    clean = tc.get("clean_up_tokenization_spaces")
    pre = derive(tj, clean_up_spaces=clean if isinstance(clean, bool) else None, where=str(folder / "tokenizer.json"))
    return Vocab("gpt2", out_tokens, out_types, merges=list(merges), pre=pre, n_real=n_real)


def _sentencepiece(folder: Path, tj: dict[str, Any], tc: dict[str, Any], n_vocab: int | None) -> Vocab:
    try:
        from sentencepiece import SentencePieceProcessor
    except ImportError as exc:
        raise ConvertError("This checkpoint has a SentencePiece tokenizer; install `sentencepiece`.") from exc
    try:
        sp = SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    except (RuntimeError, OSError) as exc:
        raise ConvertError(
            f"{folder / 'tokenizer.model'} is not a SentencePiece model; replace it with the file the model was saved with."
        ) from exc
    size = sp.vocab_size()
    tokens: list[str | None] = []
    scores: list[float] = []
    types: list[int] = []
    for i in range(size):
        piece, score = sp.id_to_piece(i), float(sp.get_score(i))
        if sp.is_unknown(i):
            kind = T.UNKNOWN
        elif sp.is_control(i):
            kind = T.CONTROL
        elif sp.is_unused(i):
            kind = T.UNUSED
        elif sp.is_byte(i):
            kind = T.BYTE
        elif score == 0.0 and len(piece) > 1 and not piece.startswith("▁"):
            kind = T.USER_DEFINED  # SentencePiece user_defined_symbols carry score 0
        else:
            kind = T.NORMAL
        tokens.append(piece)
        scores.append(score)
        types.append(kind)
    added = _added(tj, tc)
    _check_ids(list(added), folder)
    for tid, (content, special) in sorted(added.items()):
        while tid >= len(tokens):
            tokens.append(None)
            scores.append(-1000.0)
            types.append(T.UNUSED)
        if tid >= size or special:
            tokens[tid] = content
            types[tid] = _added_type(content, special)
            scores[tid] = -1000.0 if tid >= size else scores[tid]
    n_real = sum(t is not None for t in tokens)
    out_tokens, out_types = _pad(tokens, types, n_vocab, folder)
    out_scores = scores + [-1000.0] * (len(out_tokens) - len(scores))
    prefix = sp.encode("a", out_type=str)
    add_space_prefix = bool(prefix) and prefix[0].startswith("▁")
    return Vocab("llama", out_tokens, out_types, out_scores, add_space_prefix=add_space_prefix, n_real=n_real)


def _spm_json(folder: Path, tj: dict[str, Any], n_vocab: int | None) -> Vocab:
    """A SentencePiece-style BPE tokenizer.json (byte fallback over ``▁``): scores from merge ranks."""
    _check_spm_normalization(tj, folder)
    model = tj["model"]
    base: dict[str, int] = model["vocab"]
    added = _added(tj, {})
    _check_ids([*base.values(), *added.keys()], folder)
    size = max([*base.values(), *added.keys()]) + 1
    tokens: list[str | None] = [None] * size
    types: list[int] = [int(T.NORMAL)] * size
    for text, tid in base.items():
        tokens[tid] = text
        if _BYTE.fullmatch(text):
            types[tid] = T.BYTE
    if model.get("unk_token") in base:
        types[base[model["unk_token"]]] = T.UNKNOWN
    for tid, (content, special) in added.items():
        tokens[tid] = content
        types[tid] = _added_type(content, special)
    rank: dict[str, int] = {}
    for i, merge in enumerate(model.get("merges") or []):
        a, b = merge if isinstance(merge, list) else merge.split(" ", 1)
        rank.setdefault(a + b, i)
    scores = [0.0] * size
    for text, tid in base.items():
        if text in rank:
            scores[tid] = -float(rank[text] + 1)
        elif len(text) > 1 and types[tid] == T.NORMAL:
            scores[tid] = -1e9  # not reachable by a merge: lowest priority
    n_real = sum(t is not None for t in tokens)
    out_tokens, out_types = _pad(tokens, types, n_vocab, folder)
    out_scores = scores + [-1000.0] * (len(out_tokens) - len(scores))
    return Vocab("llama", out_tokens, out_types, out_scores, add_space_prefix=_prepends_space(tj), n_real=n_real)


def _check_spm_normalization(tj: dict[str, Any], folder: Path) -> None:
    blob = json.dumps([tj.get("normalizer"), tj.get("pre_tokenizer")])
    if "\\u2581" not in blob and "▁" not in blob:
        raise ConvertError(
            f"The BPE tokenizer in {folder} neither escapes spaces as ▁ nor is byte-level, "
            "so llama.cpp cannot reproduce it; add its tokenizer.model."
        )


def _prepends_space(tj: dict[str, Any]) -> bool:
    blob = json.dumps([tj.get("normalizer"), tj.get("pre_tokenizer")])
    if '"Prepend"' in blob:
        return True
    pre = tj.get("pre_tokenizer") or {}
    for item in pre.get("pretokenizers", [pre]):
        if item.get("type") == "Metaspace":
            return item.get("prepend_scheme", "always") != "never" and item.get("add_prefix_space", True)
    return False

"""Special tokens and the chat template: BOS/EOS/EOT/padding ids, whether BOS/EOS are added (measured
by running the tokenizer), and the template from chat_template.jinja or tokenizer_config.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf

from convert.vocab_types import LOOKS_SPECIAL, T, Vocab, read_tokenizer_json

# End-of-turn tokens of the common chat templates (used when the template names one of them).
EOT_CANDIDATES = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>", "<|endoftext|>", "</s>")


def chat_template(folder: Path, tc: dict[str, Any]) -> str | None:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    value = tc.get("chat_template")
    if isinstance(value, list):  # named templates: take the default one
        for item in value:
            if isinstance(item, dict) and item.get("name") == "default":
                return str(item.get("template"))
        return None
    if isinstance(value, str):
        return value
    extra = read_tokenizer_json(folder / "chat_template.json").get("chat_template")
    return extra if isinstance(extra, str) else None


def set_specials(v: Vocab, folder: Path, tj: dict[str, Any], tc: dict[str, Any], template: str | None) -> None:
    sv = gguf.SpecialVocab(folder, load_merges=False, n_vocab=len(v.tokens))
    ids = {k: i for k, i in sv.special_token_ids.items() if k in ("bos", "eos", "unk", "pad", "sep")}
    index = {tok: i for i, tok in enumerate(v.tokens[: v.n_real or len(v.tokens)])}
    for kind in ("bos", "eos", "unk", "pad"):
        entry = tc.get(f"{kind}_token")
        content = entry.get("content") if isinstance(entry, dict) else entry
        if isinstance(content, str) and content in index:
            ids[kind] = index[content]  # the tokenizer's own choice wins over config.json
    gen = read_tokenizer_json(folder / "generation_config.json")
    gen_eos = gen.get("eos_token_id")
    gen_eos_ids = [gen_eos] if isinstance(gen_eos, int) else [i for i in (gen_eos or []) if isinstance(i, int)]
    if "eos" not in ids and gen_eos_ids:
        ids["eos"] = gen_eos_ids[0]
    template = template or ""
    eot = next((index[t] for t in EOT_CANDIDATES if t in template and t in index), None)
    if eot is None:
        eot = next((i for i in gen_eos_ids if i != ids.get("eos") and 0 <= i < len(v.tokens)), None)
    if eot is not None:
        ids["eot"] = eot
    for kind in ("bos", "eos", "eot", "pad"):
        tid = ids.get(kind)
        if tid is not None and v.types[tid] in (T.NORMAL, T.USER_DEFINED) and LOOKS_SPECIAL.match(v.tokens[tid]):
            v.types[tid] = T.CONTROL
    v.special_ids = ids
    v.add_bos, v.add_eos = _adds_specials(folder, tj, tc, ids, sv)


def _adds_specials(
    folder: Path, tj: dict[str, Any], tc: dict[str, Any], ids: dict[str, int], sv: gguf.SpecialVocab
) -> tuple[bool, bool]:
    """Whether the tokenizer puts BOS/EOS around a text, measured by running it when we can."""
    if tj:
        try:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
            with_sp = tok.encode("Hello", add_special_tokens=True).ids
            without = tok.encode("Hello", add_special_tokens=False).ids
            bos, eos = ids.get("bos"), ids.get("eos")
            add_bos = bos is not None and with_sp[:1] == [bos] and without[:1] != [bos]
            add_eos = eos is not None and with_sp[-1:] == [eos] and without[-1:] != [eos]
            return add_bos, add_eos
        except Exception:
            pass
    add_bos = tc.get("add_bos_token", sv.add_special_token.get("bos", True))
    add_eos = tc.get("add_eos_token", sv.add_special_token.get("eos", False))
    return bool(add_bos), bool(add_eos)

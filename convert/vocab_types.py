"""What vocab.py and specials.py share: the :class:`Vocab` record the tokenizer's GGUF keys are
written from, llama.cpp's token types, the look of a special token, and the capped read of a
tokenizer JSON file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from convert import checks

T = gguf.TokenType
LOOKS_SPECIAL = re.compile(r"^<[|｜]?[^<>\s]+[|｜]?>$")


@dataclass
class Vocab:
    model: str  # tokenizer.ggml.model
    tokens: list[str]
    types: list[int]
    scores: list[float] | None = None
    merges: list[str] = field(default_factory=list)
    pre: str | None = None
    special_ids: dict[str, int] = field(default_factory=dict)
    add_bos: bool = False
    add_eos: bool = False
    add_space_prefix: bool | None = None
    chat_template: str | None = None
    n_real: int = 0  # tokens the tokenizer defines (before padding to the embedding size)

    def token(self, kind: str) -> str | None:
        tid = self.special_ids.get(kind)
        return self.tokens[tid] if tid is not None and 0 <= tid < len(self.tokens) else None

    def write(self, w: gguf.GGUFWriter) -> None:
        w.add_tokenizer_model(self.model)
        if self.pre is not None:
            w.add_tokenizer_pre(self.pre)
        w.add_token_list(self.tokens)
        if self.scores is not None:
            w.add_token_scores(self.scores)
        w.add_token_types(self.types)
        if self.merges:
            w.add_token_merges(self.merges)
        for kind, tid in self.special_ids.items():
            getattr(w, f"add_{kind}_token_id")(tid)
        w.add_add_bos_token(self.add_bos)
        if self.add_eos:  # llama.cpp's default is false for BPE and SentencePiece alike
            w.add_add_eos_token(True)
        if self.add_space_prefix is not None:
            w.add_add_space_prefix(self.add_space_prefix)
        if self.chat_template:
            w.add_chat_template(self.chat_template)


def read_tokenizer_json(path: Path) -> dict[str, Any]:
    """A tokenizer JSON file as a dict ({} when absent or not an object), size-capped before it is read."""
    if not path.is_file():
        return {}
    data = checks.read_json(path, "tokenizer")
    return data if isinstance(data, dict) else {}

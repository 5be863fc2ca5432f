"""Chat templates and label masks.

A conversation is rendered to text piece by piece in Python, the same way the Jinja template saved
with the tokenizer renders it (a test checks they agree byte for byte), then tokenized whole, as
llama.cpp will tokenize it at chat time. Tokens whose text starts inside an assistant reply or its
end-of-turn (EOT) token are labelled; everything else (system and user turns, role markers, BOS,
the newline after the EOT, padding) is not.

Families: where the base vocabulary already has turn tokens, they are reused (ChatML
``<|im_start|>``/``<|im_end|>``, Gemma ``<start_of_turn>``/``<end_of_turn>``); otherwise the two
ChatML tokens are added as special tokens (see :mod:`finetune.modeling` for the embedding rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finetune.chat_jinja import CHATML, GEMMA
from finetune.data import Example, Turn
from finetune.errors import FinetuneError
from finetune.tool_data import tool_result, tools_section

IGNORE = -100


@dataclass
class ChatTemplate:
    family: str  # chatml or gemma
    start: str  # the turn-start token
    eot: str  # the end-of-turn token: labelled after each reply, eos at chat time
    bos: str | None  # written first when the base tokenizer starts sequences with one
    added: list[str] = field(default_factory=list)  # tokens this run adds to the vocabulary

    @property
    def jinja(self) -> str:
        if self.family == "gemma":
            return GEMMA
        return ("{{ bos_token }}" if self.bos else "") + CHATML

    def pieces(self, turns: list[Turn], tools: list[dict[str, Any]] | None = None) -> list[tuple[str, bool]]:
        """(text, labelled) pieces whose concatenation is the rendered conversation; ``tools`` (as
        :func:`finetune.tool_data.parse_tools` gives them) go into the system section, unlabelled."""
        out: list[tuple[str, bool]] = [(self.bos, False)] if self.bos else []
        section = tools_section(tools) if tools else ""
        body = turns[1:] if turns and turns[0].role == "system" else turns
        system = turns[0].content.strip() if body is not turns else None
        if self.family == "gemma":
            prefix = "" if system is None else system + "\n\n"
            prefix += section + "\n\n" if section else ""
            for i, t in enumerate(body):
                role = {"assistant": "model", "tool": "user"}.get(t.role, t.role)
                out += self._turn(role, (prefix if i == 0 else "") + _text(t), t.role == "assistant")
            return out
        if section:
            out += self._turn("system", section if system is None else f"{system}\n\n{section}", False)
        elif system is not None:
            out += self._turn("system", system, False)
        for t in body:
            out += self._turn("user" if t.role == "tool" else t.role, _text(t), t.role == "assistant")
        return out

    def _turn(self, role: str, text: str, labelled: bool) -> list[tuple[str, bool]]:
        return [(f"{self.start}{role}\n", False), (text + self.eot, labelled), ("\n", False)]

    def render(self, turns: list[Turn], tools: list[dict[str, Any]] | None = None) -> str:
        return "".join(text for text, _ in self.pieces(turns, tools))

    def prompt(self, turns: list[Turn], tools: list[dict[str, Any]] | None = None) -> str:
        """The conversation so far plus the assistant's turn header (``add_generation_prompt``)."""
        return self.render(turns, tools) + f"{self.start}{'model' if self.family == 'gemma' else 'assistant'}\n"


def _text(turn: Turn) -> str:
    """A turn's text inside its markers: a reply followed by its calls, a tool result wrapped."""
    if turn.role == "tool":
        return tool_result(turn.content)
    text = turn.content.strip()
    if not turn.calls:
        return text
    calls = "\n".join(c.text for c in turn.calls)
    return f"{text}\n{calls}" if text else calls


def choose_template(tokenizer: Any, name: str = "auto") -> ChatTemplate:
    """Reuse the vocabulary's turn tokens where it has them; otherwise plan to add ChatML's."""
    vocab = tokenizer.get_vocab()
    starts_with_bos = _adds_bos(tokenizer)
    bos = tokenizer.bos_token if starts_with_bos else None
    has_gemma = "<start_of_turn>" in vocab and "<end_of_turn>" in vocab
    has_chatml = "<|im_start|>" in vocab and "<|im_end|>" in vocab
    if name == "gemma" or (name == "auto" and has_gemma):
        if not has_gemma:
            raise FinetuneError("template=gemma needs <start_of_turn> and <end_of_turn> in the base vocabulary; use template=chatml.")
        return ChatTemplate("gemma", "<start_of_turn>", "<end_of_turn>", bos or tokenizer.bos_token)
    added = [] if has_chatml else ["<|im_start|>", "<|im_end|>"]
    return ChatTemplate("chatml", "<|im_start|>", "<|im_end|>", bos, added)


def _adds_bos(tokenizer: Any) -> bool:
    if tokenizer.bos_token is None or tokenizer.bos_token_id is None:
        return False
    ids = tokenizer("a").input_ids
    return bool(ids) and ids[0] == tokenizer.bos_token_id


def apply_to_tokenizer(tokenizer: Any, template: ChatTemplate) -> int:
    """Add the template's new tokens, install the Jinja template, make the EOT the eos; returns how
    many tokens were added."""
    added = 0
    if template.added:
        added = tokenizer.add_special_tokens({"additional_special_tokens": list(template.added)})
    tokenizer.chat_template = template.jinja
    tokenizer.eos_token = template.eot
    if tokenizer.pad_token is None:
        tokenizer.pad_token = template.eot
    for token in (template.start, template.eot):
        ids = tokenizer(token, add_special_tokens=False).input_ids
        if len(ids) != 1:
            raise FinetuneError(f"The tokenizer splits {token} into {len(ids)} pieces; it must be one special token.")
    return added


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE where no loss; aligned with input_ids (the loss shifts by one)
    truncated: bool
    line: int

    @property
    def n_labels(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def encode(tokenizer: Any, template: ChatTemplate, example: Example, max_length: int) -> Encoded:
    """Token ids and labels for one conversation, trimmed to ``max_length`` (a trimmed reply keeps
    no EOT because its EOT falls past the cut)."""
    pieces = template.pieces(example.turns, example.tools)
    text = "".join(p for p, _ in pieces)
    spans, pos = [], 0
    for piece, labelled in pieces:
        if labelled:
            spans.append((pos, pos + len(piece)))
        pos += len(piece)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(enc["input_ids"])
    labels = [IGNORE] * len(ids)
    span_i = 0
    for k, (start, end) in enumerate(enc["offset_mapping"]):
        while span_i < len(spans) and spans[span_i][1] <= start:
            span_i += 1
        if span_i < len(spans) and spans[span_i][0] <= start < spans[span_i][1] and end > start:
            labels[k] = ids[k]
    truncated = len(ids) > max_length
    return Encoded(ids[:max_length], labels[:max_length], truncated, example.line)

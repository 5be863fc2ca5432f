"""Fit every example into ``max_length`` before any weights load, so that what trains ends its turn.

A reply cut by ``max_length`` carries no end-of-turn (EOT) token and teaches the model to go on
past the cut; those are the long replies, exactly where stopping must be learnt. Under
``overlong=drop`` (the default) a single-turn row that does not fit is dropped and a dialogue is
cut at the last turn boundary that fits, so every trained example ends with its EOT. Under
``overlong=truncate`` examples are trimmed as before and the share that loses its EOT is reported.

Every decision is kept by source line, for the run's report and ``provenance.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from finetune.config import OVERLONG
from finetune.data import Example
from finetune.errors import FinetuneError
from finetune.template import ChatTemplate, Encoded, encode

WARN_LOST_EOT = 0.05  # under truncate, warn when more than this share loses its EOT


@dataclass
class FitReport:
    policy: str
    max_length: int
    rendered: int  # examples rendered with the template and tokenizer
    kept: int = 0
    keep_eot: int = 0  # kept examples whose last labelled token is the EOT
    dropped: list[int] = field(default_factory=list)  # source lines dropped: their reply would be cut
    cut_dialogues: list[int] = field(default_factory=list)  # dialogues cut at a turn boundary
    truncated: list[int] = field(default_factory=list)  # trimmed mid-reply (overlong=truncate)
    no_labels: list[int] = field(default_factory=list)  # no assistant token left within max_length

    @property
    def lost_eot_share(self) -> float:
        return 1 - self.keep_eot / self.kept if self.kept else 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        text = (f"Fit at max_length={self.max_length} (overlong={self.policy}): {self.keep_eot} of the {self.kept} "
                f"examples kept end with their end of turn")
        if self.dropped:
            text += f"; dropped {len(self.dropped)} whose reply would be cut (lines {_lines(self.dropped)})"
        if self.cut_dialogues:
            text += f"; {len(self.cut_dialogues)} dialogues cut at a turn boundary (lines {_lines(self.cut_dialogues)})"
        if self.truncated:
            text += f"; {len(self.truncated)} trimmed mid-reply (lines {_lines(self.truncated)})"
        if self.no_labels:
            text += f"; skipped {len(self.no_labels)} with no reply left (lines {_lines(self.no_labels)})"
        return text

    def warning(self) -> str | None:
        if self.policy == "truncate" and self.lost_eot_share > WARN_LOST_EOT:
            return (f"Warning: {self.lost_eot_share:.0%} of the trained examples lose their end of turn at "
                    f"max_length={self.max_length}; a model trained on cut replies learns not to stop "
                    "(overlong=drop keeps only examples that end).")
        return None


def _lines(lines: list[int], shown: int = 12) -> str:
    return ", ".join(map(str, lines[:shown])) + (" ..." if len(lines) > shown else "")


def ends_with(enc: Encoded, token_id: int) -> bool:
    labelled = [x for x in enc.labels if x != -100]
    return bool(labelled) and labelled[-1] == token_id


def _cut_dialogue(tokenizer: Any, template: ChatTemplate, ex: Example, max_length: int) -> Encoded | None:
    """The longest prefix of the dialogue that ends with an assistant turn and fits, or None."""
    ends = [i for i, t in enumerate(ex.turns) if t.role == "assistant"]
    for last in reversed(ends[:-1]):
        shorter = Example(ex.turns[: last + 1], ex.line, ex.source, ex.tools)
        enc = encode(tokenizer, template, shorter, max_length)
        if not enc.truncated:
            return enc
    return None


def fit_examples(
    tokenizer: Any, template: ChatTemplate, examples: list[Example], max_length: int, policy: str, eot_id: int
) -> tuple[list[Encoded], list[Example], FitReport]:
    """(encoded, their examples, report); raises FinetuneError when nothing is left to train."""
    if policy not in OVERLONG:
        raise FinetuneError(f"overlong must be drop or truncate, not {policy!r}.")
    report = FitReport(policy, max_length, len(examples))
    kept: list[Encoded] = []
    sources: list[Example] = []
    for ex in examples:
        enc = encode(tokenizer, template, ex, max_length)
        if enc.truncated and policy == "drop":
            cut = _cut_dialogue(tokenizer, template, ex, max_length) if ex.replies > 1 else None
            if cut is None:
                report.dropped.append(ex.line)
                continue
            enc = cut
            report.cut_dialogues.append(ex.line)
        if enc.n_labels == 0:
            report.no_labels.append(ex.line)
            continue
        if enc.truncated:
            report.truncated.append(ex.line)
        kept.append(enc)
        sources.append(ex)
    report.kept = len(kept)
    report.keep_eot = sum(not e.truncated and ends_with(e, eot_id) for e in kept)  # the last reply's EOT
    if not kept:
        if policy == "drop":
            raise FinetuneError(
                f"No example fits max_length={max_length} with its end of turn (every one is longer); raise max_length, or pass overlong=truncate to train on cut replies."
            )
        raise FinetuneError(f"No example keeps an assistant token within max_length={max_length}; raise max_length.")
    return kept, sources, report

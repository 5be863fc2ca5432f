"""The end-of-turn token's starting rows (``eot_init`` = auto, eos, mean or keep).

A base model that never saw the chat template's end of turn ranks it near the bottom of its
vocabulary at the end of a reply (gemma3-270m: ``<end_of_turn>`` about 260,000th of 262,144), while
its own end-of-text token (``<eos>``) ranks near the top there. AdamW lifts a row at a fixed pace
per step, so a run of a few dozen steps never reaches it. Starting the EOT from the end-of-text
token's rows (input and output; one row when tied) begins training where the base already knows
"the text ends here". ``auto`` measures first: before training, where the base ranks the EOT and
its end-of-text token at the true reply ends of a few examples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from finetune.config import EOT_INIT
from finetune.errors import FinetuneError
from finetune.modeling import copy_token_rows, mean_token_rows
from finetune.stopping import teacher_forced
from finetune.template import Encoded

NOT_PREDICTED_RANK = 1000  # the base "does not predict" a token it ranks below this at reply ends
PREDICTED_RANK = 100  # ... and "predicts" one it ranks within this
PROBE_EXAMPLES = 8


def end_of_text_id(original_eos: int | list[int] | None, eot_id: int) -> int | None:
    """The base's own end-of-text token, if it has one distinct from the EOT."""
    for i in original_eos if isinstance(original_eos, list) else [original_eos]:
        if i is not None and int(i) != eot_id:
            return int(i)
    return None


def check_mode(mode: str, original_eos: int | list[int] | None, eot_id: int) -> None:
    """Before any weights load: ``eos`` needs an end-of-text token distinct from the EOT."""
    if mode not in EOT_INIT:
        raise FinetuneError(f"eot_init must be auto, eos, mean or keep, not {mode!r}.")
    if mode == "eos" and end_of_text_id(original_eos, eot_id) is None:
        raise FinetuneError("eot_init=eos needs a base with an end-of-text token other than the end of turn; "
                            "use eot_init=mean or keep.")


def decide(mode: str, eot_is_new: bool, eot_rank: float | None, eos_id: int | None, eos_rank: float | None) -> tuple[str, str]:
    """(action: eos, mean or keep; the reason in words) for ``mode``, from the base's ranks."""
    if mode != "auto":
        return mode, f"eot_init={mode} was asked for"
    if eos_id is None or eos_rank is None:
        return ("mean", "the EOT is a new token and the base has no end-of-text token to start it from") if eot_is_new \
            else ("keep", "the base has no end-of-text token distinct from the EOT")
    if eos_rank > PREDICTED_RANK:
        return ("mean", f"the base's end-of-text token ranks only {eos_rank:,.0f} at reply ends") if eot_is_new \
            else ("keep", f"the base's end-of-text token ranks only {eos_rank:,.0f} at reply ends, no better start")
    if eot_is_new:
        return "eos", f"the EOT is a new token and the base's end-of-text token ranks {eos_rank:,.0f} at reply ends"
    assert eot_rank is not None
    if eot_rank > NOT_PREDICTED_RANK:
        return "eos", (f"the base ranks the EOT {eot_rank:,.0f} at reply ends (it does not predict it) and its "
                       f"end-of-text token {eos_rank:,.0f}")
    return "keep", f"the base already ranks the EOT {eot_rank:,.0f} at reply ends"


def init_eot_rows(
    model: Any, probe: list[Encoded], *, mode: str, eot_id: int, eot_is_new: bool, original_eos: int | list[int] | None,
    vocab_size: int, device: torch.device, pad_id: int, chunk: int, say: Callable[[str], None],
    amp: torch.dtype | None = None,
) -> dict[str, Any]:
    """Measure the base on ``probe`` examples, act by ``mode``, measure again; returns the record
    kept in run.json and provenance (what was done, why, the ranks and probabilities before and after)."""
    eos_id = end_of_text_id(original_eos, eot_id)
    probe = probe[:PROBE_EXAMPLES]
    others = [eos_id] if eos_id is not None else []
    before = teacher_forced(model, probe, eot_id, device, pad_id=pad_id, chunk=chunk, other_ids=others, amp=amp) if probe else {}
    eot_rank = before.get("val_eot_rank_end_median")
    eos_rank = before.get(f"rank_end_median_{eos_id}") if eos_id is not None else None
    action, reason = decide(mode, eot_is_new, eot_rank, eos_id, eos_rank)
    if action == "eos":
        assert eos_id is not None
        matrices = copy_token_rows(model, eos_id, eot_id)
        done = f"copied the end-of-text token's (id {eos_id}) {'input and output rows' if matrices > 1 else 'tied embedding row'} into the EOT"
    elif action == "mean":
        mean_token_rows(model, [eot_id], vocab_size)
        done = "set the EOT's rows to the mean of the vocabulary's"
    else:
        done = "kept the EOT's rows as they are"
    after = teacher_forced(model, probe, eot_id, device, pad_id=pad_id, chunk=chunk, amp=amp) if probe and action != "keep" else before
    record = {"mode": mode, "action": action, "reason": reason, "eos_id": eos_id, "probe_examples": len(probe),
              "before": {"eot_rank_end_median": eot_rank, "eot_p_end": before.get("val_eot_p_end"),
                         "eos_rank_end_median": eos_rank, "eos_p_end": before.get(f"p_end_{eos_id}")},
              "after": {"eot_rank_end_median": after.get("val_eot_rank_end_median"), "eot_p_end": after.get("val_eot_p_end"),
                        "eot_p_inside": after.get("val_eot_p_inside")}}
    if probe:
        say(f"End of turn (eot_init={mode}): {done}, because {reason}. At the true end of {len(probe)} replies the EOT "
            f"ranked {eot_rank:,.0f} (p {before['val_eot_p_end']:.4f}) before and "
            f"{after['val_eot_rank_end_median']:,.0f} (p {after['val_eot_p_end']:.4f}) after.")
    else:
        say(f"End of turn (eot_init={mode}): {done}, because {reason}.")
    return record

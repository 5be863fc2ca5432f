"""Does the model learn to end its turn? The held-out split, the teacher-forced stop diagnostics
computed on it at every epoch end, and the rule that names the best checkpoint by them.

Teacher-forced, on each held-out conversation: at the true end of every reply (the position whose
next token is the end-of-turn, EOT) the probability of the EOT and whether it is the top-1 token;
at every other reply position the probability of the EOT (it must stay low: a model that says EOT
everywhere stops too soon); and the held-out reply loss. Dev generations at a short budget cannot
show stopping (a LIMA-style reply is longer than the cap), so these are the per-epoch signal.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Sequence
from typing import Any

import torch

from finetune.batching import collate, micro_batches
from finetune.data import Example
from finetune.errors import FinetuneError
from finetune.modeling import head_logits, logit_softcap
from finetune.template import IGNORE, Encoded

MAX_VAL_SHARE = 4  # the held-out split never takes more than a quarter of the examples that fit
BEST_RULE = ("highest share of held-out reply ends where the EOT is the top-1 token, then the highest "
             "dev stop share, then the lowest held-out reply loss, then the later epoch")


def split_validation(
    encoded: list[Encoded], examples: list[Example], n: int, seed: int
) -> tuple[list[int], list[int], str | None]:
    """(train indices, held-out indices, a note when the split was capped). Held-out rows are drawn
    from the single-turn examples (seeded), so a run with and one without the dialogues hold out the
    same rows."""
    if n < 0:
        raise FinetuneError(f"val_examples must be 0 or more, not {n}.")
    note = None
    cap = len(encoded) // MAX_VAL_SHARE
    if n > cap:
        note = (f"Held out {cap} examples instead of val_examples={n}: only {len(encoded)} fit, and the held-out "
                f"split takes at most a quarter of them.")
        n = cap
    single = [i for i, ex in enumerate(examples) if not ex.is_dialogue]
    pool = single if len(single) >= n else list(range(len(encoded)))
    held = sorted(random.Random(seed).sample(pool, n)) if n else []
    held_set = set(held)
    return [i for i in range(len(encoded)) if i not in held_set], held, note


def _chunks(model: Any, batch_ids: torch.Tensor, labels: torch.Tensor, chunk: int):  # type: ignore[no-untyped-def]
    """(log-probabilities, targets) at the labelled next-token positions, ``chunk`` rows at a time,
    so a 262k vocabulary never holds more than one chunk of logits."""
    hidden = model.get_decoder()(input_ids=batch_ids, use_cache=False).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    where = targets != IGNORE
    hidden, targets = hidden[where], targets[where]
    softcap = logit_softcap(model)
    for start in range(0, targets.shape[0], chunk):
        logits = head_logits(model, hidden[start : start + chunk], softcap)
        yield torch.log_softmax(logits, dim=-1), targets[start : start + chunk]


@torch.no_grad()
def teacher_forced(
    model: Any, items: Sequence[Encoded], eot_id: int, device: torch.device, *, pad_id: int,
    chunk: int = 256, budget: int = 2048, amp: torch.dtype | None = None, other_ids: Sequence[int] = (),
) -> dict[str, float]:
    """The stop diagnostics over ``items`` (keys with ``eot`` in their names, plus ``val_loss``);
    for each of ``other_ids`` its median rank and mean probability at the same reply ends."""
    was_training = model.training
    model.eval()
    p_end: list[float] = []
    top1: list[bool] = []
    rank_end: list[int] = []
    p_inside: list[float] = []
    nll = 0.0
    count = 0
    others: dict[int, tuple[list[int], list[float]]] = {t: ([], []) for t in other_ids}
    lengths = [len(e.input_ids) for e in items]
    for group in micro_batches(list(range(len(items))), lengths, budget):
        batch = collate([items[i] for i in group], pad_id)
        ctx = torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext()
        with ctx:
            for logp, targets in _chunks(model, batch.input_ids.to(device), batch.labels.to(device), chunk):
                nll -= float(logp.gather(1, targets[:, None]).sum())
                count += targets.shape[0]
                is_end = targets == eot_id
                eot_lp = logp[:, eot_id]
                p_end += eot_lp[is_end].exp().tolist()
                p_inside += eot_lp[~is_end].exp().tolist()
                ends = logp[is_end]
                rank_end += ((ends > ends[:, eot_id : eot_id + 1]).sum(dim=1) + 1).tolist()
                top1 += (ends.argmax(dim=1) == eot_id).tolist()
                for t, (ranks, probs) in others.items():
                    ranks += ((ends > ends[:, t : t + 1]).sum(dim=1) + 1).tolist()
                    probs += ends[:, t].exp().tolist()
    model.train(was_training)
    result = {
        "val_eot_p_end": _mean(p_end), "val_eot_top1_end": _mean([float(x) for x in top1]),
        "val_eot_rank_end_median": _median(rank_end), "val_eot_p_inside": _mean(p_inside),
        "val_loss": nll / count if count else math.nan, "val_eot_ends": float(len(p_end)),
    }
    for t, (ranks, probs) in others.items():
        result[f"rank_end_median_{t}"] = _median(ranks)
        result[f"p_end_{t}"] = _mean(probs)
    return result


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def _median(xs: Sequence[int]) -> float:
    if not xs:
        return math.nan
    s = sorted(xs)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def best_checkpoint(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The epoch row that wins by :data:`BEST_RULE` among rows that have a checkpoint."""

    def key(r: dict[str, Any]) -> tuple[float, float, float, int]:
        top1 = r.get("val_eot_top1_end")
        stop = r.get("dev_eot_stop_share")
        loss = r.get("val_loss")
        return (-1.0 if top1 is None or math.isnan(top1) else top1, -1.0 if stop is None else stop,
                -(loss if loss is not None and not math.isnan(loss) else math.inf), r["epoch"])

    candidates = [r for r in rows if r.get("checkpoint")]
    return max(candidates, key=key) if candidates else None


def describe_row(r: dict[str, Any]) -> str:
    """One line for an epoch's stop diagnostics."""
    parts = [f"held-out p(EOT) at reply ends {r['val_eot_p_end']:.3f}",
             f"EOT top-1 at {r['val_eot_top1_end']:.0%} of {int(r['val_eot_ends'])} ends",
             f"median rank {r['val_eot_rank_end_median']:.0f}",
             f"p(EOT) inside replies {r['val_eot_p_inside']:.4f}", f"reply loss {r['val_loss']:.3f}"]
    if r.get("dev_eot_stop_share") is not None:
        parts.append(f"dev replies ended {r['dev_eot_stop_share']:.0%} within {r['dev_max_new_tokens']} tokens")
    return ", ".join(parts)

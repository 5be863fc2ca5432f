"""The fit rules (drop, cut a dialogue at a turn boundary, truncate with a warning), the seeded
held-out split, the teacher-forced stop diagnostics against a direct computation, the EOT's
starting rows and the rule that names the best checkpoint."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from finetune.data import Example, Turn
from finetune.eot_init import check_mode, decide, init_eot_rows
from finetune.errors import FinetuneError
from finetune.fit import ends_with, fit_examples
from finetune.stopping import best_checkpoint, split_validation, teacher_forced
from finetune.template import apply_to_tokenizer, choose_template, encode


def _setup(folder: Path) -> tuple[Any, Any, int]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    template = choose_template(tok)
    apply_to_tokenizer(tok, template)
    return tok, template, int(tok.convert_tokens_to_ids(template.eot))


def _single(line: int, reply: str) -> Example:
    return Example([Turn("user", "Name a colour."), Turn("assistant", reply)], line, "test")


def _dialogue(line: int) -> Example:
    turns = [Turn("user", "Name a fruit."), Turn("assistant", "An apple."), Turn("user", "Another?"),
             Turn("assistant", "A pear. " * 40)]
    return Example(turns, line, "multi_turn")


def test_drop_keeps_only_examples_that_end_and_cuts_dialogues_at_a_turn(tiny_gemma: Path) -> None:
    tok, template, eot = _setup(tiny_gemma)
    short, long_, dialogue = _single(1, "Red."), _single(2, "Red, blue and green. " * 40), _dialogue(3)
    max_length = 40
    assert len(encode(tok, template, short, 10_000).input_ids) <= max_length
    assert len(encode(tok, template, long_, 10_000).input_ids) > max_length
    kept, sources, report = fit_examples(tok, template, [short, long_, dialogue], max_length, "drop", eot)
    assert [s.line for s in sources] == [1, 3] and report.dropped == [2] and report.cut_dialogues == [3]
    assert report.kept == report.keep_eot == 2 and all(ends_with(e, eot) for e in kept)
    assert all(len(e.input_ids) <= max_length and not e.truncated for e in kept)
    cut = kept[1]  # the dialogue lost its last exchange: its first reply and EOT are the last labels
    assert tok.decode([x for x in cut.labels if x != -100]) == "An apple.<end_of_turn>"
    assert "dropped 1 whose reply would be cut (lines 2)" in report.summary() and report.warning() is None


def test_truncate_trains_cut_replies_and_warns(tiny_gemma: Path) -> None:
    tok, template, eot = _setup(tiny_gemma)
    rows = [_single(1, "Red."), _single(2, "Red, blue and green. " * 40), _dialogue(3)]
    kept, _, report = fit_examples(tok, template, rows, 40, "truncate", eot)
    assert len(kept) == 3 and report.truncated == [2, 3] and report.keep_eot == 1 and report.dropped == []
    warning = report.warning()
    assert warning is not None and "67% of the trained examples lose their end of turn" in warning
    fine, _, quiet = fit_examples(tok, template, rows[:1], 40, "truncate", eot)
    assert quiet.warning() is None and quiet.keep_eot == 1


def test_nothing_fits_is_one_sentence(tiny_gemma: Path) -> None:
    tok, template, eot = _setup(tiny_gemma)
    with pytest.raises(FinetuneError, match="No example fits max_length=20 with its end of turn"):
        fit_examples(tok, template, [_single(1, "Red, blue and green. " * 40)], 20, "drop", eot)


@pytest.mark.parametrize("override, message", [
    ("overlong=cut", "overlong must be drop or truncate, not 'cut'"),
    ("val_examples=-1", "val_examples must be 0 or more"),
    ("val_examples=many", "The config key val_examples cannot be 'many'"),
    ("eot_init=zero", "eot_init must be auto, eos, mean or keep, not 'zero'"),
])
def test_bad_values_are_one_sentence(override: str, message: str) -> None:
    from finetune.config import build_config

    with pytest.raises(FinetuneError, match=message) as err:
        build_config(overrides=[override])
    assert "\n" not in str(err.value)


def test_eot_init_eos_needs_an_end_of_text_token() -> None:
    with pytest.raises(FinetuneError, match="eot_init=eos needs a base with an end-of-text token"):
        check_mode("eos", 7, 7)
    check_mode("eos", [7, 3], 7)  # 3 is the end of text


def _examples(n_single: int, n_dialogues: int) -> list[Example]:
    single = [_single(i + 1, f"Reply {i}.") for i in range(n_single)]
    return single + [_dialogue(n_single + i + 1) for i in range(n_dialogues)]


def test_split_is_seeded_single_turn_and_the_same_with_or_without_dialogues() -> None:
    both = _examples(40, 5)
    only = both[:40]
    train, held, note = split_validation([None] * 45, both, 8, seed=3)  # type: ignore[list-item]
    train2, held2, _ = split_validation([None] * 40, only, 8, seed=3)  # type: ignore[list-item]
    assert held == held2 and len(held) == 8 and note is None
    assert all(not both[i].is_dialogue for i in held) and not set(held) & set(train) and len(train) == 37
    assert split_validation([None] * 45, both, 8, seed=4)[1] != held  # type: ignore[list-item]
    _, capped, note = split_validation([None] * 10, _examples(10, 0), 32, seed=0)  # type: ignore[list-item]
    assert len(capped) == 2 and note is not None and "instead of val_examples=32" in note
    assert split_validation([None] * 10, _examples(10, 0), 0, seed=0)[1] == []  # type: ignore[list-item]


def test_teacher_forced_matches_a_direct_computation(tiny_gemma: Path) -> None:
    from transformers import AutoModelForCausalLM

    tok, template, eot = _setup(tiny_gemma)
    model = AutoModelForCausalLM.from_pretrained(tiny_gemma).eval()
    items = [encode(tok, template, ex, 512) for ex in (_single(1, "Red."), _single(2, "Blue is a colour."), _dialogue(3))]
    got = teacher_forced(model, items, eot, torch.device("cpu"), pad_id=tok.pad_token_id, chunk=5, budget=64,
                         other_ids=[tok.eos_token_id if tok.eos_token_id != eot else 1])
    p_end, p_in, nll, n = [], [], 0.0, 0
    for e in items:
        with torch.no_grad():
            logp = model(torch.tensor([e.input_ids])).logits[0].float().log_softmax(-1)
        for pos in range(len(e.labels) - 1):
            target = e.labels[pos + 1]
            if target == -100:
                continue
            nll -= float(logp[pos, target])
            n += 1
            (p_end if target == eot else p_in).append(float(logp[pos, eot].exp()))
    assert got["val_eot_ends"] == 4  # one reply end in each single-turn row, two in the dialogue
    assert got["val_eot_p_end"] == pytest.approx(sum(p_end) / len(p_end), rel=1e-4)
    assert got["val_eot_p_inside"] == pytest.approx(sum(p_in) / len(p_in), rel=1e-4)
    assert got["val_loss"] == pytest.approx(nll / n, rel=1e-4)
    assert 1 <= got["val_eot_rank_end_median"] <= len(tok) and 0 <= got["val_eot_top1_end"] <= 1
    assert model.training is False


@pytest.mark.parametrize("mode, new, eot_rank, eos_rank, action", [
    ("auto", False, 260_000.0, 4.0, "eos"),  # gemma3-270m: the base never learnt <end_of_turn>
    ("auto", False, 3.0, 4.0, "keep"),  # the base already predicts its EOT
    ("auto", False, 260_000.0, 5_000.0, "keep"),  # nothing better to start from
    ("auto", True, None, 10.0, "eos"),  # ChatML added to a base with a good end of text
    ("auto", True, None, 9_000.0, "mean"),
    ("mean", False, 260_000.0, 4.0, "mean"),
    ("keep", False, 260_000.0, 4.0, "keep"),
])
def test_eot_init_decision(mode: str, new: bool, eot_rank: float | None, eos_rank: float, action: str) -> None:
    got, reason = decide(mode, new, eot_rank, 1, eos_rank)
    assert got == action and reason


def test_eot_init_copies_the_end_of_text_rows_and_says_so(tiny_gemma: Path) -> None:
    from transformers import AutoModelForCausalLM

    tok, template, eot = _setup(tiny_gemma)
    model = AutoModelForCausalLM.from_pretrained(tiny_gemma)
    eos = int(tok.convert_tokens_to_ids("<eos>"))
    items = [encode(tok, template, _single(1, "Red."), 512)]
    lines: list[str] = []
    record = init_eot_rows(model, items, mode="eos", eot_id=eot, eot_is_new=False, original_eos=eos, vocab_size=len(tok),
                           device=torch.device("cpu"), pad_id=tok.pad_token_id, chunk=64, say=lines.append)
    emb = model.get_input_embeddings().weight
    assert torch.equal(emb[eot], emb[eos]) and record["action"] == "eos" and record["eos_id"] == eos
    assert "copied the end-of-text token's (id" in lines[0] and "eot_init=eos" in lines[0]
    assert record["before"]["eot_rank_end_median"] is not None and not math.isnan(record["after"]["eot_p_end"])


def test_best_checkpoint_rule() -> None:
    rows = [
        {"epoch": 0, "val_eot_top1_end": 0.0, "val_loss": 3.0},  # no checkpoint: never picked
        {"epoch": 1, "val_eot_top1_end": 0.5, "dev_eot_stop_share": 0.2, "val_loss": 2.0, "checkpoint": "e1"},
        {"epoch": 2, "val_eot_top1_end": 0.75, "dev_eot_stop_share": 0.1, "val_loss": 2.5, "checkpoint": "e2"},
        {"epoch": 3, "val_eot_top1_end": 0.75, "dev_eot_stop_share": 0.4, "val_loss": 2.9, "checkpoint": "e3"},
        {"epoch": 4, "val_eot_top1_end": 0.75, "dev_eot_stop_share": 0.4, "val_loss": 2.7, "checkpoint": "e4"},
    ]
    best = best_checkpoint(rows)
    assert best is not None and best["checkpoint"] == "e4"  # top-1 ties, then dev stop share, then loss
    assert best_checkpoint(rows[:2]) == rows[1] and best_checkpoint(rows[:1]) is None


def test_auto_precision_uses_bf16_on_cpus_that_have_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import finetune.estimate as est

    cpu = torch.device("cpu")
    monkeypatch.setattr(est, "cpu_has_bf16", lambda: True)
    assert est.pick_precision("auto", cpu) is torch.bfloat16 and est.pick_precision("fp32", cpu) is None
    monkeypatch.setattr(est, "cpu_has_bf16", lambda: False)
    assert est.pick_precision("auto", cpu) is None and est.pick_precision("bf16", cpu) is torch.bfloat16

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.eval.compare import CompareRun
from assistant.eval.lima_mini import SCHEDULES, best_checkpoint, dev_prompts, make_subset
from assistant.eval.promptset import load_prompts
from assistant.eval.reports import generation_report
from assistant.eval.runs import eval_dir
from models.errors import AssistantError
from tests.assistant.eval.conftest import reply, write_run


def test_report_lists_past_runs_and_rewrites_them(two_runs: tuple[Path, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # ./runs is listed too
    mine = write_run(eval_dir() / "gamma--set", "gamma", [reply("1", "ok")])
    cmp = CompareRun.create(*two_runs, out=tmp_path / "runs" / "cmp")
    cmp.record(cmp.pairs[0], "tie")
    (tmp_path / "runs" / "finetune-x").mkdir()
    (tmp_path / "runs" / "finetune-x" / "run.json").write_text('{"base": "gemma3-270m"}')  # finetune's, not ours
    res = CliRunner().invoke(cli, ["eval", "report", "--dir", str(tmp_path / "runs")])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split()[:4] == ["UPDATED", "KIND", "MODELS", "SUMMARY"]
    body = "\n".join(lines[1:])
    assert "gamma" in body and "alpha vs beta" in body and str(mine.resolve()) in body
    assert len(lines) == 1 + 4  # gamma, alpha, beta and the comparison; not finetune's run folder
    assert "finetune-x" not in res.output
    res = CliRunner().invoke(cli, ["eval", "report", str(cmp.folder), str(mine)])
    assert res.exit_code == 0, res.output
    assert (cmp.folder / "report.md").is_file() and (mine / "report.md").is_file()
    assert "1/6 judged" in json.loads((cmp.folder / "run.json").read_text())["summary"]


def test_report_with_no_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["eval", "report"])
    assert res.exit_code == 0 and "No eval runs yet" in res.output


def test_generation_report_quotes_replies(make_run: Callable[..., Path]) -> None:
    run = make_run("m", [reply("1", "# not a heading\n\n```\ncode", "length", tokens=9)])
    text = generation_report(run).read_text()
    assert "> # not a heading" in text and "**m** (length, 9 tokens)" in text
    assert "| hit the token limit | 100% (1) |" in text


def test_subset_for_the_miniature(lima_train: Path, tmp_path: Path) -> None:
    info = make_subset(lima_train, tmp_path / "sub.jsonl", 200)
    rows = [json.loads(x) for x in (tmp_path / "sub.jsonl").read_text().splitlines()]
    assert (info["single_turn"], info["dialogues"], info["rows"]) == (200, 29, 1029)
    assert len(rows) == 229 and sum(len(r["conversations"]) > 2 for r in rows) == 29
    again = make_subset(lima_train, tmp_path / "sub2.jsonl", 200)  # seeded: the same rows
    assert (tmp_path / "sub2.jsonl").read_bytes() == (tmp_path / "sub.jsonl").read_bytes() and again["seed"] == 0


def test_subset_errors(tmp_path: Path) -> None:
    with pytest.raises(AssistantError, match="does not exist"):
        make_subset(tmp_path / "none.jsonl", tmp_path / "o.jsonl", 5)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\n')
    with pytest.raises(AssistantError, match="not in LIMA's layout"):
        make_subset(bad, tmp_path / "o.jsonl", 5)
    assert not (tmp_path / "o.jsonl").exists()


def test_dev_prompts_are_the_single_turn_eval_prompts(tmp_path: Path) -> None:
    path = dev_prompts(tmp_path / "dev.jsonl")
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(rows) == 18 and all(set(r) <= {"id", "prompt", "system"} for r in rows)
    assert [p.id for p in load_prompts(path).prompts] == [r["id"] for r in rows]


def test_lima_mini_dry_run_states_the_plan(lima_train: Path, tmp_path: Path) -> None:
    out = tmp_path / "mini"
    res = CliRunner().invoke(cli, ["eval", "lima-mini", "--data", str(lima_train), "--out", str(out),
                                   "--schedule", "cpu", "--dry-run"])
    assert res.exit_code == 0, res.output
    s = SCHEDULES["cpu"]
    assert (f"{s['examples']} single-turn examples + 29 dialogues, {s['epochs']} epochs, max length {s['max_length']}, "
            f"batch {s['batch_size']}, lr {s['lr']:g} -> {s['lr_end']:g}") in res.output
    cmds = [line for line in res.output.splitlines() if line.startswith("assistant finetune")]
    assert len(cmds) == 2 and "--no-dialogues" in cmds[0] and "--dialogues" in cmds[1]
    assert f"epochs={s['epochs']}" in cmds[0] and f"save_epochs=1-{s['epochs']}" in cmds[0]  # every epoch: pick the best
    assert f"batch_size={s['batch_size']}" in cmds[0]
    res = CliRunner().invoke(cli, ["eval", "lima-mini", "--data", str(lima_train), "--out", str(out),
                                   "--schedule", "cpu", "--epochs", "9", "--dry-run"])
    assert res.exit_code == 1 and "another schedule" in str(res.exception)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_lima_mini_tiny_end_to_end(lima_train: Path, tmp_path: Path) -> None:
    """The whole loop on a tiny schedule (minutes on 2 cores): finetune x2, convert x2, generate x3, report."""
    from tests.assistant.cli_helpers import run_cli

    out = tmp_path / "mini"
    done = run_cli("eval", "lima-mini", "--data", str(lima_train), "--out", str(out), "--schedule", "cpu",
                   "--examples", "8", "--epochs", "1", "--max-length", "128", "--batch-size", "4", "--max-tokens", "16",
                   "--dev-tokens", "4", "--threads", "1", timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = (out / "report.md").read_text()
    assert "|  | base | urial | single | dialogues | instruct |" in report
    assert "| finetune-dialogues | done |" in report and "| convert-single | done |" in report
    assert "## Learning to stop, per epoch" in report and "Converted: `epoch-01`" in report
    for label in ("base", "urial", "single", "dialogues", "instruct"):
        assert (out / f"gen-{label}" / "generations.jsonl").read_text().count("\n") == 20


def test_lima_report_from_a_finished_folder(tmp_path: Path) -> None:
    from assistant.eval.lima_mini import SCHEDULES
    from assistant.eval.lima_report import write_lima_report

    folder = tmp_path / "mini"
    folder.mkdir()
    meta = {"kind": "lima-mini", "base": "gemma3-270m", "schedule": SCHEDULES["cpu"], "schedule_name": "cpu",
            "quant": "q8_0", "max_tokens": 512, "data": {"rows": 1029, "single_turn": 200, "dialogues": 29},
            "steps": {"finetune-single": {"status": "done", "seconds": 1800.0}}}
    (folder / "run.json").write_text(json.dumps(meta))
    (folder / "finetune-single").mkdir()
    metrics = [{"step": i, "epoch": 1, "loss": 3.0 - i * 0.5, "tokens": 1000, "seconds": 60.0,
                "peak_memory_bytes": 2**31} for i in (1, 2)]
    (folder / "finetune-single" / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    write_run(folder / "gen-base", "base", [reply("tides", "Tides...\nUser: more", "eot"), reply("x", "long", "length")])
    epochs = [{"kind": "epoch", "epoch": e, "step": 2 * e, "val_eot_p_end": 0.1 * e, "val_eot_top1_end": 0.25 * e,
               "val_eot_rank_end_median": 5 - e, "val_eot_p_inside": 0.001, "val_loss": 2.0, "val_eot_ends": 32.0,
               **({"checkpoint": str(folder / "finetune-single" / "epoch-01"), "dev_eot_stop_share": 0.5,
                   "dev_max_new_tokens": 128, "train_loss": 2.5} if e else {})} for e in (0, 1)]
    with open(folder / "finetune-single" / "metrics.jsonl", "a") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in epochs))
    run_meta = {"fit": {"max_length": 512, "kept": 155, "keep_eot": 155, "dropped": [1, 4], "cut_dialogues": []},
                "val_lines": list(range(32)), "eot_init": {"mode": "auto", "action": "eos", "reason": "r",
                                                          "before": {"eot_rank_end_median": 261770},
                                                          "after": {"eot_rank_end_median": 5}},
                "best": {"epoch": 1, "checkpoint": str(folder / "finetune-single" / "epoch-01"), "rule": "the rule"}}
    (folder / "finetune-single" / "run.json").write_text(json.dumps(run_meta))
    write_run(folder / "gen-urial", "urial", [reply("tides", "The moon pulls.", "eot"), reply("x", "ok", "length")])
    write_run(folder / "gen-single", "single", [reply("tides", "The moon.", "eot"), reply("x", "ok", "eot")])
    text = write_lima_report(folder).read_text()
    assert "| 0 | 0.000 | 0% | 5 | 0.0010 | 2.000 |  |  |" in text
    assert "| 1 | 0.100 | 25% | 4 | 0.0010 | 2.000 | 2.500 | 50% @ 128 |" in text
    assert "dropped 2" in text and "261770 -> 5" in text and "Converted: `epoch-01` (best by the rule: the rule)" in text
    s = SCHEDULES["cpu"]
    assert f"| epochs | {s['epochs']} | 15 |" in text and f"| max_length | {s['max_length']} | 2048 |" in text
    assert f"| lr | {s['lr']} | 1e-5 |" in text
    assert "| finetune-single | done | 30.0 min |" in text
    assert "| single | 2 | 2.500 | 2.250 | 17 | 2.0 min | 2.0 GiB |" in text
    stats_header = next(line for line in text.splitlines() if line.startswith("|  | base"))
    assert stats_header == "|  | base | urial | single |"
    assert "| clean stop (eot, no invented turn) | 0% (0) | 50% (1) | 100% (2) |" in text
    assert "### tides" in text and "### x" not in text  # samples: the chosen ids that exist
    assert (folder / "endings.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((folder / "run.json").read_text())["summary"]
    assert summary == "base clean stop 0%; urial clean stop 50%; single clean stop 100%"


def test_lima_mini_converts_the_best_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "finetune-single"
    for e in (1, 2, 3):
        (run / f"epoch-0{e}").mkdir(parents=True)
        (run / f"epoch-0{e}" / "config.json").write_text("{}")
    assert best_checkpoint(run, 3) == run / "epoch-03"  # no best recorded: the last
    (run / "run.json").write_text(json.dumps({"best": {"checkpoint": str(run / "epoch-02")}}))
    assert best_checkpoint(run, 3) == run / "epoch-02"
    assert best_checkpoint(tmp_path / "none", 3) is None

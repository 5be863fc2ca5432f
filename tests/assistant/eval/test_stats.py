from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from assistant.eval.runs import load_generations
from assistant.eval.stats import format_table, invents_turn, is_degenerate, run_stats
from tests.assistant.eval.conftest import reply

LOOP = " ".join(["the cat sat down"] * 15)  # 60 words, 4 distinct 4-grams


def test_each_category_counts(make_run: Callable[..., Path]) -> None:
    rows = [
        reply("clean", "Paris is the capital of France.", "eot", tokens=8),
        reply("invented", "It is Paris.\nUser: and Spain?", "eot", tokens=10),
        reply("marker", "It is Paris.<|im_start|>user", "eot", tokens=10),
        reply("stop", "It is Paris.", "stop", tokens=5),
        reply("limit", LOOP, "length", tokens=60),
        reply("empty", "   ", "eot", tokens=0),
        reply("cancel", "It is", "cancelled", tokens=2),
    ]
    s = run_stats(load_generations(make_run("m", rows)))
    c = s["counts"]
    assert s["replies"] == 7
    assert c["clean_stop"] == 2  # "clean" and the empty reply (it ended with eot and invented nothing)
    assert c["invented_turn"] == 2
    assert c["stop_string"] == 1 and c["limit"] == 1 and c["cancelled"] == 1
    assert c["degenerate"] == 1 and c["empty"] == 1
    assert s["shares"]["invented_turn"] == 2 / 7
    assert s["mean_tokens"] == (8 + 10 + 10 + 5 + 60 + 0 + 2) / 7
    assert s["median_tokens"] == 8


def test_degenerate_needs_over_40_tokens_and_repetition() -> None:
    assert is_degenerate(LOOP, 60)
    assert not is_degenerate(LOOP, 40)  # "over 40 tokens"
    varied = " ".join(f"word{i}" for i in range(60))
    assert not is_degenerate(varied, 60)
    half = " ".join(f"w{i}" for i in range(30)) + " " + " ".join(["a b c d"] * 8)  # 62 words, 59 4-grams
    distinct = len({tuple(half.split()[i:i + 4]) for i in range(len(half.split()) - 3)})
    assert is_degenerate(half, 62) == (distinct < 0.5 * 59)


def test_invented_turn_patterns() -> None:
    assert invents_turn("Sure.\n\nUser: thanks")
    assert invents_turn("Sure.\n### Human: next")
    assert invents_turn("ok <start_of_turn>user")
    assert not invents_turn("The user: interface is simple.")  # not at the start of a line
    assert not invents_turn("Ask the user what they need.")


def test_side_by_side_and_json_cli(make_run: Callable[..., Path]) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    a = make_run("aaa", [reply("1", "fine", "eot"), reply("2", "cut", "length")])
    b = make_run("bbb", [reply("1", "fine", "eot"), reply("2", "fine", "eot")])
    text = CliRunner().invoke(cli, ["eval", "stats", str(a), str(b)])
    assert text.exit_code == 0, text.output
    header, *lines = text.output.splitlines()
    assert header.split() == ["aaa", "bbb"]
    clean = next(line for line in lines if line.startswith("clean stop"))
    assert clean.split()[-4:] == ["50%", "(1)", "100%", "(2)"]
    out = CliRunner().invoke(cli, ["eval", "stats", "--json", str(a), str(b)])
    data = json.loads(out.output)
    assert [r["label"] for r in data["runs"]] == ["aaa", "bbb"]
    assert data["runs"][0]["counts"]["limit"] == 1 and data["runs"][1]["shares"]["clean_stop"] == 1.0


def test_reads_finetune_dev_generations(tmp_path: Path) -> None:
    """finetune's dev_generations.jsonl (stopped/tokens) counts the same way."""
    folder = tmp_path / "epoch-02"
    folder.mkdir()
    rows = [{"id": "a", "prompt": "p", "reply": "done", "tokens": 4, "stopped": True},
            {"id": "b", "prompt": "p", "reply": "going on", "tokens": 128, "stopped": False}]
    (folder / "dev_generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = run_stats(load_generations(folder / "dev_generations.jsonl"))
    assert s["label"] == "epoch-02"
    assert s["counts"]["clean_stop"] == 1 and s["counts"]["limit"] == 1
    assert s["mean_tokens"] == (3 + 128) / 2


def test_format_table_columns(make_run: Callable[..., Path]) -> None:
    s = run_stats(load_generations(make_run("x", [reply("1", "a b c", "eot", tokens=3)])))
    table = format_table([s])
    assert "mean reply tokens" in table and "3.0" in table


def test_bad_run_paths(tmp_path: Path) -> None:
    import pytest

    from models.errors import AssistantError

    with pytest.raises(AssistantError, match="does not exist"):
        load_generations(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AssistantError, match="not an eval run"):
        load_generations(tmp_path / "empty")

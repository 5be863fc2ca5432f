"""`assistant data` end to end in a subprocess: files, one-sentence errors, inspect's report; and
the miniature picking its rows through select."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.eval.lima_mini import make_subset
from tests.assistant.cli_helpers import run_cli
from tests.finetune.curate.test_select import pool_lines


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join(pool_lines()) + "\n")
    return path


def test_select_end_to_end(pool: Path, tiny_llama: Path, tmp_path: Path) -> None:
    out = tmp_path / "picked.jsonl"
    res = run_cli("data", "select", str(pool), "--n", "2", "--out", str(out), "--base", str(tiny_llama),
                  "--max-length", "160", "--no-html")
    assert res.returncode == 0, res.stderr
    assert "Kept 3 of 16 rows (2 single-turn, 1 dialogues)" in res.stdout
    assert out.is_file() and (tmp_path / "picked.report.md").is_file() and (tmp_path / "picked.selection.jsonl").is_file()
    header = json.loads((tmp_path / "picked.selection.jsonl").read_text().splitlines()[0])
    assert header["config"]["base"] == str(tiny_llama) and header["counts"]["dropped_over_long"] == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--n", "0"], "--n must be at least 1, not 0."),
    (["--n", "3", "--by", "best"], "Unknown --by 'best'; use one of longest, quality, diverse, random."),
    (["--n", "3", "--strict"], "has 3 row(s) finetune would refuse (--strict)"),
])
def test_select_errors_are_one_sentence(pool: Path, tmp_path: Path, args: list[str], message: str) -> None:
    res = run_cli("data", "select", str(pool), "--out", str(tmp_path / "o.jsonl"), *args)
    assert res.returncode != 0 and message in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert not (tmp_path / "o.jsonl").exists()


def test_select_bad_path(tmp_path: Path) -> None:
    res = run_cli("data", "select", str(tmp_path / "none.jsonl"), "--n", "3", "--out", str(tmp_path / "o.jsonl"))
    assert res.returncode == 1 and res.stderr.strip().count("\n") == 0 and "does not exist" in res.stderr


def test_inspect_json_and_report(pool: Path, tiny_llama: Path, tmp_path: Path) -> None:
    res = run_cli("data", "inspect", str(pool), "--base", str(tiny_llama), "--max-length", "160", "--json",
                  "--out", str(tmp_path / "rep"))
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["rows"] == 16 and info["formats"] == {"lima": 13} and info["dialogues"] == 1
    assert [r["line"] for r in info["refused"]] == [7, 8, 9]
    assert info["exact_duplicates"]["rows"] == 1 and info["near_duplicates"]["rows"] == 3
    assert info["short_replies"]["lines"] == [3, 10, 15]  # under 20 characters
    assert info["lengths"]["fits"] == 12 and sum(c for _, _, c in info["lengths"]["histogram"]) == 13
    assert (tmp_path / "rep" / "report.md").is_file() and (tmp_path / "rep" / "lengths.png").is_file()
    text = run_cli("data", "inspect", str(pool), "--out", str(tmp_path / "rep2"))
    assert text.returncode == 0 and "finetune would refuse: 3" in text.stdout and "line 7:" in text.stdout


def test_miniature_longest_goes_through_select(tmp_path: Path) -> None:
    rows = [{"conversations": [f"Question {i} about subject {chr(97 + i)}", "word " * (i + 1)], "source": "lima"}
            for i in range(8)]
    rows.append({"conversations": ["Hi", "Hello", "More?", "Sure"], "source": "multi_turn"})
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    info = make_subset(data, tmp_path / "sub.jsonl", 3, select="longest")
    kept = [json.loads(x) for x in (tmp_path / "sub.jsonl").read_text().splitlines()]
    assert (info["single_turn"], info["dialogues"], info["select"]) == (3, 1, "longest")
    assert [r["conversations"][0] for r in kept[:3]] == [f"Question {i} about subject {chr(97 + i)}" for i in (5, 6, 7)]
    assert Path(info["selection"]).is_file()

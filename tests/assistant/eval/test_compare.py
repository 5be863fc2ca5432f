from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.engine.fake import FakeEngine
from assistant.eval.compare import CompareRun
from assistant.eval.compare_app import CompareApp
from assistant.eval.compare_report import write_compare_report
from assistant.eval.judge import judge_prompt, parse_answer, run_judge
from models.errors import AssistantError


async def judge_with_keys(run: CompareRun, keys: list[str]) -> list[str]:
    """Press one key per pair; returns the ids of the pairs the keys went to, in order."""
    app = CompareApp(run)
    ids: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for key in keys:
            assert app.current is not None
            shown = str(app.query_one("#left-text").render())
            ids.append(app.current.id)
            # the screen shows the hidden side the pair says: reply A is the left one
            assert shown == app.current.left["reply"]
            await pilot.press(key)
            await pilot.pause()
        await pilot.press("q")
    return ids


@pytest.mark.asyncio
async def test_keys_record_the_right_judgment_on_the_hidden_side(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = CompareRun.create(*two_runs, out=tmp_path / "cmp", seed=3)
    sides = {p.id: p.first_on_left for p in run.pairs}
    assert len(set(sides.values())) == 2  # both arrangements occur among the 6 pairs (seed 3)
    ids = await judge_with_keys(run, ["a", "b", "t", "s"])
    judged = run.judgments()
    assert list(judged) == ids
    pairs = {p.id: p for p in run.pairs}
    for pid, key in zip(ids, ["a", "b"]):
        picked_left = key == "a"
        expected = "first" if picked_left == sides[pid] else "second"
        assert judged[pid]["winner"] == expected and judged[pid]["shown"] == key.upper()
        pair = pairs[pid]
        chosen_text = (pair.left if picked_left else pair.right)["reply"]
        winner = pair.first if expected == "first" else pair.second
        assert winner["reply"] == chosen_text  # the reply on the side pressed is the one that won
    assert judged[ids[2]]["winner"] == "tie" and judged[ids[3]]["winner"] == "skip"


@pytest.mark.asyncio
async def test_resume_shows_only_unjudged_pairs_then_report(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = CompareRun.create(*two_runs, out=tmp_path / "cmp")
    first_ids = await judge_with_keys(run, ["a", "a"])
    again = CompareRun.create(*two_runs, out=tmp_path / "cmp")  # the same command a second time
    assert [p.id for p in again.pending()] == [p.id for p in again.pairs if p.id not in first_ids]
    later = await judge_with_keys(again, ["b", "t", "t", "s"])
    assert set(first_ids).isdisjoint(later) and len(again.pending()) == 0
    counts = again.counts()
    assert sum(counts.values()) == 6 and counts["tie"] == 2 and counts["skip"] == 1
    report = write_compare_report(again).read_text()
    decided = counts["first"] + counts["tie"] + counts["second"]
    row = next(line for line in report.splitlines() if line.startswith("| person"))
    assert row == (f"| person | {counts['first'] / decided:.0%} ({counts['first']}) | {2 / decided:.0%} (2) | "
                   f"{counts['second'] / decided:.0%} ({counts['second']}) | 5 | 1 |")
    png = (tmp_path / "cmp" / "compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((tmp_path / "cmp" / "run.json").read_text())
    assert meta["summary"].startswith("5/6 judged: alpha")


def test_judge_model_both_orders_and_agreement(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = CompareRun.create(*two_runs, out=tmp_path / "cmp")
    person = {p.id: p for p in run.pairs}
    # the person prefers alpha everywhere
    for pair in run.pairs:
        run.record(pair, "A" if pair.first_on_left else "B")
    # a judge that always answers "A" (the position bias both orders cancel): every pair a tie
    engine = FakeEngine(["A"] * 12)
    engine.load("judge")
    counts = run_judge(engine, run, "judge")
    assert counts["tie"] == 6
    assert len(engine.calls) == 12 and engine.calls[0][1].temperature == 0.0
    # a judge that reads the replies: picks the reply mentioning alpha, in either order
    smart = FakeEngine()
    smart.load("smart")

    def answer(messages, params):  # type: ignore[no-untyped-def]
        text = messages[-1].content
        a_part = text.split("[Reply A]")[1].split("[Reply B]")[0]
        smart.queue("A" if "alpha" in a_part else "B, because it is better")
        return FakeEngine.stream(smart, messages, params)

    smart.stream = answer  # type: ignore[method-assign,assignment]
    assert run_judge(smart, run, "smart")["first"] == 6
    assert run.agreement("model:smart") == {"judge": "model:smart", "both": 6, "agree": 6, "share": 1.0}
    assert run.agreement("model:judge")["agree"] == 0
    report = write_compare_report(run).read_text()
    assert "The judge `model:smart` agrees with the person on 6 of 6 prompts (100%)." in report
    assert person  # every pair was judged by all three


def test_parse_and_prompt() -> None:
    assert parse_answer("A") == "A" and parse_answer(" b.") == "B" and parse_answer("Tie") == "tie"
    assert parse_answer("**B**") == "B" and parse_answer("Reply B is better.") == "B"
    assert parse_answer("Answer: tie\nbecause...") == "tie" and parse_answer("A is better") == "A"
    assert parse_answer("I cannot decide") is None
    assert parse_answer("A recipe for 4 green beans") is None  # an article, not a verdict
    assert parse_answer("A, B or tie.") is None  # more than one verdict
    assert parse_answer("") is None
    run_pair = type("P", (), {"messages": [{"role": "user", "content": "Q?"}]})()
    msgs = judge_prompt(run_pair, "left text", "right text")  # type: ignore[arg-type]
    assert msgs[0].role == "system" and "Do not prefer a reply for being longer" in msgs[0].content
    assert "[Reply A]\nleft text" in msgs[1].content and "[Reply B]\nright text" in msgs[1].content


def test_compare_errors(two_runs: tuple[Path, Path], make_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.assistant.eval.conftest import reply

    with pytest.raises(AssistantError, match="same run"):
        CompareRun.create(two_runs[0], two_runs[0])
    other = make_run("gamma", [reply("zz", "x")])
    with pytest.raises(AssistantError, match="share no prompt id"):
        CompareRun.create(two_runs[0], other, out=tmp_path / "c2")
    CompareRun.create(*two_runs, out=tmp_path / "c3")
    with pytest.raises(AssistantError, match="compares other runs"):
        CompareRun.create(two_runs[0], other, out=tmp_path / "c3")


def test_cli_report_only_without_terminal(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    out = tmp_path / "cmp"
    res = CliRunner().invoke(cli, ["eval", "compare", *map(str, two_runs), "--out", str(out)])
    assert res.exit_code == 1 and "needs a terminal" in str(res.exception)
    run = CompareRun.create(*two_runs, out=out)
    for pair in run.pairs[:4]:
        run.record(pair, "A" if pair.first_on_left else "tie")
    res = CliRunner().invoke(cli, ["eval", "compare", *map(str, two_runs), "--out", str(out), "--report-only"])
    assert res.exit_code == 0, res.output
    assert "alpha wins" in res.output and "4/6 judged" in res.output
    assert (out / "report.md").is_file()

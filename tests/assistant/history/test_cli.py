"""``assistant history list | show | search | export | rm`` and ``ask`` saving to the history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.history.store import History


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def saved() -> list[int]:
    with History() as h:
        a = h.create_conversation(model="smol", system="Be brief.", title="Reversing lists")
        u = h.add_message(a.id, "user", "How do I reverse a list in Python?", parent_id=None)
        r = h.start_reply(a.id, parent_id=u.id, model="smol")
        h.finish_reply(r.id, "Use xs[::-1] or reversed(xs).", "eot", {})
        r2 = h.start_reply(a.id, parent_id=u.id, model="smol")
        h.finish_reply(r2.id, "Call xs.reverse() to do it in place.", "eot", {})
        b = h.create_conversation(model="smol", title="Eggs")
        u = h.add_message(b.id, "user", "How long to boil an egg?", parent_id=None)
        r = h.start_reply(b.id, parent_id=u.id, model="smol")
        h.update_reply(r.id, "About nine")  # the process died here
        return [a.id, b.id]


def test_list_and_show(capsys: pytest.CaptureFixture[str], saved: list[int]) -> None:
    code, out, _ = run(capsys, "history", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["ID", "UPDATED", "MESSAGES", "MODEL", "TITLE"]
    assert lines[1].split()[0] == "2" and lines[1].endswith("Eggs") and lines[2].endswith("Reversing lists")
    assert lines[2].split()[3] == "3"  # messages, every branch
    code, out, _ = run(capsys, "history", "show", "1")
    assert code == 0 and out.startswith("# Reversing lists\n") and "1 message(s) on other branches" in out
    assert "System: Be brief." in out and "xs.reverse()" in out and "xs[::-1]" not in out
    code, out, _ = run(capsys, "history", "show", "2")
    assert "Assistant (interrupted):\nAbout nine" in out


def test_search(capsys: pytest.CaptureFixture[str], saved: list[int]) -> None:
    code, out, _ = run(capsys, "history", "search", "reverse")
    assert code == 0 and out.count("Reversing lists") == 3  # the prompt, reversed(), .reverse()
    code, out, _ = run(capsys, "history", "search", "boil", "egg")
    assert out.strip().startswith("2  Eggs: How long to [boil] an [egg]?")
    code, out, _ = run(capsys, "history", "search", "zebra")
    assert code == 0 and "No message matches 'zebra'." in out


def test_export_and_rm(capsys: pytest.CaptureFixture[str], saved: list[int], tmp_path: Path) -> None:
    target = tmp_path / "eggs.json"
    code, out, _ = run(capsys, "history", "export", "2", str(target))
    assert code == 0 and "Wrote conversation 2" in out
    data = json.loads(target.read_text())
    assert data["messages"][-1]["interrupted"] is True and data["title"] == "Eggs"
    code, _, err = run(capsys, "history", "export", "2", str(tmp_path / "eggs.pdf"))
    assert code == 1 and err == "Error: Cannot export to eggs.pdf: name the file .md (Markdown) or .json.\n"
    assert not (tmp_path / "eggs.pdf").exists()
    code, out, _ = run(capsys, "history", "rm", "1")
    assert code == 0 and "Removed conversation 1 (Reversing lists)." in out
    code, _, err = run(capsys, "history", "rm", "1")
    assert code == 1 and "No conversation 1 in the history" in err
    code, _, err = run(capsys, "history", "show", "abc")
    assert code == 2 and "is not a valid integer" in err
    code, out, _ = run(capsys, "history", "list")
    assert "Reversing lists" not in out and "Eggs" in out


def test_empty_history(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "history", "list")
    assert code == 0 and "No conversations yet" in out


def test_ask_saves_and_continues() -> None:
    from tests.assistant.cli_helpers import run_cli

    flags = ["--temperature", "0", "-n", "8", "--ctx-size", "512", "--threads", "1"]
    done = run_cli("ask", "-c", "hello")
    assert done.returncode == 1 and "no saved conversation to continue" in done.stderr
    done = run_cli("ask", "--json", *flags, "My name is Ada.")
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    done = run_cli("ask", "--json", "-c", *flags, "What is my name?")
    assert done.returncode == 0, done.stderr
    second = json.loads(done.stdout)
    assert first["conversation_id"] == second["conversation_id"] == 1
    assert second["prompt_tokens"] > first["prompt_tokens"] + first["completion_tokens"]  # it saw the first turn
    with History() as h:
        thread = h.thread(1)
        assert [m.role for m in thread] == ["user", "assistant", "user", "assistant"]
        assert thread[0].content == "My name is Ada." and thread[1].content == first["text"]
        assert thread[3].content == second["text"] and h.get_conversation(1).model == "smollm2-135m-instruct"
        assert len(h.list_conversations()) == 1

"""`ask --tool`: calls shown on stderr, asked about on the terminal or allowed with --yes, the answer
alone on stdout, the calls in --json's result; without a terminal and without --yes, calls are denied."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from assistant.ask import saved
from assistant.engine.fake import FakeEngine
from assistant.session.config import ChatOptions
from assistant.session.tool_turns import ToolOptions


def call(name: str, **arguments: object) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine([call("calculator", expression="2**10"), "It is 1024."])
    fake.load("fake-model")
    monkeypatch.setattr("assistant.session.start.start_engine", lambda cfg: fake)
    return fake


def ask(tools: ToolOptions | None) -> dict[str, Any]:
    out = io.StringIO()
    result = saved.run_ask_saved("2**10?", ChatOptions(), continue_=False, stream=True, out=out, tools=tools)
    result["stdout"] = out.getvalue()
    return result


def test_yes_runs_the_call_and_stdout_has_only_the_answer(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    result = ask(ToolOptions(names=("calculator",), yes=True))
    assert result["stdout"] == "It is 1024.\n"
    assert result["tool_calls"] == [{"id": result["tool_calls"][0]["id"], "name": "calculator",
                                     "arguments": {"expression": "2**10"}, "result": "1024", "is_error": False,
                                     "seconds": result["tool_calls"][0]["seconds"]}]
    err = capsys.readouterr().err
    assert 'tool call: calculator {"expression": "2**10"}' in err and "calculator returned in" in err


def test_without_a_terminal_and_without_yes_the_call_is_denied(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    def no_tty(*args: Any, **kw: Any) -> Any:
        raise OSError("no tty")

    monkeypatch.setattr("builtins.open", no_tty)
    result = ask(ToolOptions(names=("calculator",)))
    assert result["tool_calls"][0]["is_error"] and "denied" in result["tool_calls"][0]["result"]
    assert "pass --yes" in capsys.readouterr().err


def test_no_tool_flag_offers_nothing(engine: FakeEngine) -> None:
    result = ask(None)
    assert "tool_calls" not in result and engine.calls[0][1].tools is None
    assert "<tool_call>" in result["stdout"]  # the model's text is shown as it is, nothing is run


def test_an_unknown_tool_name_is_one_sentence(engine: FakeEngine) -> None:
    from models.errors import AssistantError

    with pytest.raises(AssistantError, match="There is no tool named 'nope'"):
        ask(ToolOptions(names=("nope",), yes=True))


def test_read_file_stays_inside_the_allowed_folder(engine: FakeEngine, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("the key is under the mat")
    engine.replies.clear()
    engine.queue(call("read_file", path="/etc/passwd"), call("read_file", path=str(tmp_path / "notes.txt")), "Found it.")
    result = ask(ToolOptions(names=("read_file",), allow_dirs=(tmp_path,), yes=True))
    first, second = result["tool_calls"]
    assert first["is_error"] and "root:" not in first["result"]
    assert not second["is_error"] and "under the mat" in second["result"]

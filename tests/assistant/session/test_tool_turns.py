"""Turns with tools through ChatSession: calls run after approval, results saved as tool messages, the
model answers again; bad calls, unknown tools, denials and loops never run anything and never wedge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.engine.base import GenerationParams
from assistant.engine.fake import FakeEngine
from assistant.history.store import History
from assistant.session.chat import ChatSession
from assistant.session.tool_turns import ToolCallDone, ToolCallShown, ToolOptions, ToolRunner
from assistant.tools.approvals import Decision


def call(name: str, **arguments: object) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def session_with(engine: FakeEngine, tmp_path: Path, ask: object = None, **options: object) -> ChatSession:
    history = History(tmp_path / "history.db")
    session = ChatSession(engine, history, model="fake-model", params=GenerationParams(temperature=0))
    opts = ToolOptions(**{"yes": ask is None, **options})  # type: ignore[arg-type]
    session.tools = ToolRunner.start(opts, ask)  # type: ignore[arg-type]
    return session


def drain(session: ChatSession, prompt: str) -> tuple[str, list[object], object]:
    text, events, last = "", [], None
    for chunk in session.send(prompt):
        text += chunk.text
        if chunk.event is not None:
            events.append(chunk.event)
        if chunk.finish_reason is not None:
            last = chunk
    return text, events, last


def test_a_call_runs_its_result_is_saved_and_the_model_answers(tmp_path: Path) -> None:
    engine = FakeEngine(["Let me compute. " + call("calculator", expression="2+3"), "The answer is 5."])
    session = session_with(engine, tmp_path)
    text, events, last = drain(session, "What is 2+3?")
    assert text == "Let me compute. The answer is 5."  # the call itself never shows as text
    shown, done = events
    assert isinstance(shown, ToolCallShown) and shown.call.name == "calculator" and shown.error is None
    assert isinstance(done, ToolCallDone) and done.result.content == "5" and not done.result.is_error
    assert last is not None and last.finish_reason == "eot"
    thread = session.thread()
    assert [m.role for m in thread] == ["user", "assistant", "tool", "assistant"]
    assert thread[1].finish_reason == "tool_calls" and thread[1].content == "Let me compute. "
    assert thread[1].tool_calls == [{"id": shown.call.id, "type": "function",
                                     "function": {"name": "calculator", "arguments": {"expression": "2+3"}}}]
    assert thread[2].tool_call_id == shown.call.id and thread[2].tool_name == "calculator" and thread[2].content == "5"
    # the second reply saw the call and its result, and both replies were offered the tools
    messages, params = engine.calls[1]
    assert [m.role for m in messages] == ["user", "assistant", "tool"]
    assert messages[1].tool_calls == thread[1].tool_calls and messages[2].tool_call_id == shown.call.id
    assert params.tools and {t["function"]["name"] for t in params.tools} >= {"calculator", "current_time"}


def test_a_denied_call_does_not_run_and_the_model_is_told(tmp_path: Path) -> None:
    asked: list[tuple[str, dict[str, object]]] = []

    def deny(tool: object, arguments: dict[str, object]) -> Decision:
        asked.append((tool.name, arguments))  # type: ignore[attr-defined]
        return Decision.DENY

    engine = FakeEngine([call("calculator", expression="9*9"), "I could not compute it."])
    session = session_with(engine, tmp_path, ask=deny)
    _, events, _ = drain(session, "9*9?")
    assert asked == [("calculator", {"expression": "9*9"})]
    done = events[1]
    assert isinstance(done, ToolCallDone) and done.result.is_error and "denied" in done.result.content
    assert "denied" in engine.calls[1][0][-1].content


def test_always_is_remembered_for_the_tool(tmp_path: Path) -> None:
    answers = iter([Decision.ALLOW_ALWAYS])
    engine = FakeEngine([call("calculator", expression="1+1"), "2.", call("calculator", expression="2+2"), "4."])
    session = session_with(engine, tmp_path, ask=lambda tool, args: next(answers))
    drain(session, "1+1?")
    _, events, _ = drain(session, "2+2?")  # no second question: next(answers) would raise
    assert isinstance(events[1], ToolCallDone) and events[1].result.content == "4"


@pytest.mark.parametrize("bad", [
    '<tool_call>{"name": "calculator", "arguments": {"expression": "1+</tool_call>',  # cut mid-object
    "<tool_call>{'name': 'calculator'}</tool_call>",  # single quotes
    call("rm_rf", path="/"),  # not offered
])
def test_bad_calls_never_run_and_the_next_turn_renders(tmp_path: Path, bad: str) -> None:
    ran: list[object] = []
    engine = FakeEngine([bad, "Sorry.", "Hello again."])
    session = session_with(engine, tmp_path, ask=lambda tool, args: ran.append(tool) or Decision.ALLOW_ONCE)
    text, events, last = drain(session, "do it")
    assert ran == []
    shown, done = events
    assert isinstance(shown, ToolCallShown) and shown.error
    assert isinstance(done, ToolCallDone) and done.result.is_error
    assert engine.calls[1][0][-1].role == "tool" and engine.calls[1][0][-1].content.startswith("Error:")
    text, _, last = drain(session, "hi")  # the history with the bad call still renders
    assert text == "Hello again." and last is not None and last.finish_reason == "eot"


def test_the_same_call_again_stops_the_chain(tmp_path: Path) -> None:
    engine = FakeEngine([call("calculator", expression="1+1")] * 4)
    session = session_with(engine, tmp_path)
    text, events, last = drain(session, "loop")
    assert len(engine.calls) == 2  # no third reply
    done = [e for e in events if isinstance(e, ToolCallDone)]
    assert [d.result.content for d in done][0] == "2" and done[1].result.is_error  # the repeat never ran
    assert done[1].result.content.startswith("Not run:") and [d.round for d in done] == [0, 1]
    assert "same" in text.lower() and last is not None
    thread = session.thread()  # the refusal is saved: every call has its answer, the next turn renders
    assert [m.role for m in thread] == ["user", "assistant", "tool", "assistant", "tool"]
    assert thread[2].stats.get("seconds", -1) >= 0


def test_tools_off_shows_results_as_text_to_a_plain_template(tmp_path: Path) -> None:
    engine = FakeEngine([call("calculator", expression="3*3"), "9.", "Yes."])
    session = session_with(engine, tmp_path)
    drain(session, "3*3?")
    assert session.tools is not None
    session.tools.enabled = False
    drain(session, "sure?")
    messages, params = engine.calls[-1]
    assert params.tools is None and all(m.role != "tool" and not m.tool_calls for m in messages)
    assert any(m.role == "user" and m.content.startswith("[calculator returned]") for m in messages)

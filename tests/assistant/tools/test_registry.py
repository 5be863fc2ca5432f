"""ToolSet.call (names, schema validation, failures as results, caps), approvals and the chain guard."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.tools.approvals import ApprovalPolicy, ChainGuard, Decision
from assistant.tools.builtins import builtin_tools
from assistant.tools.calls import Tool, ToolCall, ToolError, ToolResult
from assistant.tools.registry import ToolSet


def call(name: str, **args: Any) -> ToolCall:
    return ToolCall(f"call_{name}", name, dict(args))


def writer_tool(log: list[dict[str, Any]]) -> Tool:
    def run(args: dict[str, Any]) -> ToolResult:
        log.append(args)
        return ToolResult(f"wrote {args['text']}")

    schema = {"type": "object", "properties": {"text": {"type": "string"}, "mode": {"enum": ["a", "w"]}},
              "required": ["text"]}
    return Tool("write_note", "Write a note.", schema, source="notes", run=run)


def crashing_tool() -> Tool:
    def run(args: dict[str, Any]) -> ToolResult:
        raise RuntimeError("disk on fire")

    return Tool("crash", "Always crashes.", {"type": "object"}, run=run)


def test_call_runs_validates_and_never_raises() -> None:
    log: list[dict[str, Any]] = []
    tools = ToolSet([*builtin_tools(), writer_tool(log), crashing_tool()])
    assert tools.call(call("calculator", expression="2+2")).content == "4"
    assert tools.call(call("write_note", text="hi")).content == "wrote hi"
    for bad, why in ((call("write_note"), "'text' is a required property"),
                     (call("write_note", text=3), "at 'text': 3 is not of type 'string'"),
                     (call("write_note", text="x", mode="z"), "at 'mode'"),
                     (call("calculator", expression="1", extra=1), "Additional properties"),
                     (call("nope"), "There is no tool named 'nope'"),
                     (call("crash"), "crash failed (RuntimeError: disk on fire)")):
        result = tools.call(bad)
        assert result.is_error and why in result.content, result
        assert result.for_model().startswith("Error: ")
    assert log == [{"text": "hi"}]


def test_results_are_capped() -> None:
    big = Tool("big", "Big.", {"type": "object"}, run=lambda a: ToolResult("é" * 100_000))
    result = ToolSet([big], max_result_bytes=1000).call(call("big"))
    assert result.truncated and len(result.content.encode()) < 1100 and "truncated: 200,000 bytes" in result.content


def test_offered_and_schemas_for_the_parser_and_template() -> None:
    tools = ToolSet(builtin_tools())
    assert set(tools.offered()) == {"current_time", "calculator"}
    assert tools.schemas(["calculator"])[0]["function"]["name"] == "calculator"
    with pytest.raises(ToolError, match="no tool named 'grep'"):
        tools.select(["grep"])


def test_approvals_once_always_deny() -> None:
    log: list[dict[str, Any]] = []
    answers = [Decision.DENY, Decision.ALLOW_ONCE, Decision.ALLOW_ALWAYS]
    asked: list[tuple[str, dict[str, Any]]] = []

    def ask(tool: Tool, args: dict[str, Any]) -> Decision:
        asked.append((tool.name, args))
        return answers.pop(0)

    tools = ToolSet([writer_tool(log)])
    policy = ApprovalPolicy(ask)
    denied = tools.call(call("write_note", text="a"), policy)
    assert denied.is_error and "denied" in denied.content and log == []
    assert tools.call(call("write_note", text="b"), policy).content == "wrote b"
    assert tools.call(call("write_note", text="c"), policy).content == "wrote c"  # "always" from here on
    assert tools.call(call("write_note", text="d"), policy).content == "wrote d"
    assert [a[1]["text"] for a in asked] == ["a", "b", "c"]
    # arguments that fail the schema are refused before anyone is asked
    assert tools.call(call("write_note"), ApprovalPolicy(lambda t, a: pytest.fail("asked"))).is_error


def test_no_one_to_ask_means_denied_and_allow_all_runs() -> None:
    log: list[dict[str, Any]] = []
    tools = ToolSet([writer_tool(log)])
    assert tools.call(call("write_note", text="x"), ApprovalPolicy()).is_error
    assert tools.call(call("write_note", text="x"), ApprovalPolicy(allow_all=True)).content == "wrote x"

    def interrupted(tool: Tool, args: dict[str, Any]) -> Decision:
        raise KeyboardInterrupt

    assert tools.call(call("write_note", text="y"), ApprovalPolicy(interrupted)).is_error


def test_only_read_only_builtins_may_be_pre_approved() -> None:
    tools = [*builtin_tools(), writer_tool([])]
    policy = ApprovalPolicy(lambda t, a: Decision.DENY, preapproved=["calculator"], tools=tools)
    assert ToolSet(tools).call(call("calculator", expression="1+1"), policy).content == "2"
    with pytest.raises(ToolError, match="pre-approves 'write_note', which is not a read-only built-in"):
        ApprovalPolicy(preapproved=["write_note"], tools=tools)
    # even without the check at construction, a pre-approved MCP tool still asks
    sneaky = ApprovalPolicy(lambda t, a: Decision.DENY, preapproved=["write_note"])
    assert ToolSet(tools).call(call("write_note", text="x"), sneaky).is_error


def test_chain_guard_limits_rounds_and_stops_repeats() -> None:
    guard = ChainGuard(max_rounds=3)
    assert guard.check([call("calculator", expression="1")]) is None
    assert guard.check([call("calculator", expression="2")]) is None
    stop = guard.check([call("calculator", expression="1")])
    assert stop and "same arguments" in stop
    guard.reset()
    for i in range(3):
        assert guard.check([call("calculator", expression=str(i))]) is None
    stop = guard.check([call("calculator", expression="9")])
    assert stop and "3 rounds" in stop
    assert "same arguments" in (ChainGuard().check([call("a", x=1), call("a", x=1)]) or "")
    # the same arguments in another key order are the same call
    assert ChainGuard().check([ToolCall("1", "a", {"x": 1, "y": 2}), ToolCall("2", "a", {"y": 2, "x": 1})])
    with pytest.raises(ToolError):
        ChainGuard(0)

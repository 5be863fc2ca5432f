"""MCP against real stdio servers written for the tests (servers/): one well-behaved (the SDK's own
MCPServer) and hostile ones that never answer, exit at start, print garbage, or send 50 MB. Each
gives one clear sentence, bounded memory and no hang."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from assistant.tools.calls import ToolCall, ToolError
from assistant.tools.mcp_client import McpHub
from assistant.tools.mcp_config import McpServerConfig
from assistant.tools.registry import ToolSet

SERVERS = Path(__file__).parent / "servers"


def server(name: str, timeout: float = 20, **env: str) -> McpServerConfig:
    return McpServerConfig(name, sys.executable, (str(SERVERS / f"{name}.py"),), env=dict(env), timeout=timeout,
                           source="test-mcp.json")


def gone(pid: int) -> bool:
    """Whether the process has ended (a zombie awaiting its reaper counts as ended)."""
    for _ in range(50):
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def hub() -> Iterator[McpHub]:
    hub = McpHub({"good": server("good", GOOD_TOKEN="passed")}, max_result_bytes=10_000)
    yield hub
    hub.close()


def test_lists_tools_with_their_schemas(hub: McpHub) -> None:
    tools = {t.name: t for t in hub.list_tools("good")}
    assert {"echo", "add", "fail", "big", "sleep", "env", "pid"} <= set(tools)
    assert tools["add"].input_schema["properties"]["a"]["type"] == "integer"
    assert tools["echo"].read_only and not tools["add"].read_only


def test_calls_results_and_is_error(hub: McpHub) -> None:
    result = hub.call("good", "add", {"a": 2, "b": 40})
    assert (result.content, result.is_error) == ("42", False)
    assert hub.call("good", "echo", {"text": "Zürich 東京"}).content == "Zürich 東京"
    failed = hub.call("good", "fail", {"reason": "the disk is full"})
    assert failed.is_error and "the disk is full" in failed.content
    refused = hub.call("good", "no_such_tool", {})
    assert refused.is_error and "no_such_tool" in refused.content


def test_results_are_capped_with_a_note(hub: McpHub) -> None:
    result = hub.call("good", "big", {"n": 50_000})
    assert result.truncated and "truncated: 50,000 bytes, the first 10,000 are shown" in result.content
    assert len(result.content) < 10_200


def test_environment_is_not_inherited(hub: McpHub, monkeypatch: pytest.MonkeyPatch) -> None:
    # the server started before this variable existed, so use a fresh hub to prove the point
    monkeypatch.setenv("LEAKED_SECRET", "s3cret")
    fresh = McpHub({"good": server("good", GOOD_TOKEN="passed")})
    try:
        assert fresh.call("good", "env", {"name": "LEAKED_SECRET"}).content == "<unset>"
        assert fresh.call("good", "env", {"name": "GOOD_TOKEN"}).content == "passed"
        assert fresh.call("good", "env", {"name": "PATH"}).content != "<unset>"
    finally:
        fresh.close()


def test_a_call_past_its_timeout_kills_the_server_and_the_next_call_restarts_it() -> None:
    hub = McpHub({"good": server("good", timeout=1.5)}, start_timeout=30)
    try:
        hub.list_tools("good")  # started within its timeout (the SDK imports take a moment)
        first_pid = int(hub.call("good", "pid", {}).content)
        grandchild = int(hub.call("good", "child", {}).content)
        assert psutil.Process(grandchild).is_running()
        started = time.monotonic()
        slow = hub.call("good", "sleep", {"seconds": 30})
        assert time.monotonic() - started < 6
        assert slow.is_error and "took longer than 1.5 s" in slow.content and "starts again" in slow.content
        assert gone(first_pid) and gone(grandchild)  # the whole tree
        second = hub.call("good", "pid", {})
        assert not second.is_error and int(second.content) != first_pid
    finally:
        hub.close()


@pytest.mark.parametrize("name, words", [
    ("silent", ["'silent' did not answer within 1 s of starting", "test-mcp.json"]),
    ("exits", ["'exits' exited (code 3) before it answered", "fatal: no configuration found"]),
    ("garbage", ["'garbage' printed text that is not an MCP message", "Hello! Server starting up"]),
    ("huge", ["'huge' sent a message larger than 8 MB"]),
])
def test_hostile_servers_give_one_clear_sentence(name: str, words: list[str]) -> None:
    rss_before = psutil.Process().memory_info().rss
    hub = McpHub({name: server(name, timeout=1)}, start_timeout=1)
    started = time.monotonic()
    try:
        with pytest.raises(ToolError) as err:
            hub.list_tools(name)
        result = hub.call(name, "anything", {})  # the model's path: a tool error, not an exception
    finally:
        hub.close()
    assert time.monotonic() - started < 8
    text = str(err.value)
    assert all(w in text for w in words), text
    assert "\n" not in text
    assert result.is_error and words[0] in result.content
    assert psutil.Process().memory_info().rss - rss_before < 64 * 1024 * 1024


def test_toolset_offers_builtins_and_server_tools_and_reports_broken_servers() -> None:
    hub = McpHub({"good": server("good"), "exits": server("exits", timeout=2)}, start_timeout=30)
    tools = ToolSet([], hub)
    try:
        listed = {t.name: t.source for t in tools.list()}
        assert listed["add"] == "good" and "exits" not in listed.values()
        assert len(tools.problems) == 1 and "'exits' exited" in tools.problems[0]
        assert tools.call(ToolCall("c1", "add", {"a": 1, "b": 2})).content == "3"
        bad = tools.call(ToolCall("c2", "add", {"a": "one", "b": 2}))  # refused by the schema, never sent
        assert bad.is_error and "at 'a'" in bad.content
    finally:
        tools.close()
    with pytest.raises(ToolError, match="shut down"):
        hub.list_tools("good")


def test_a_command_that_does_not_exist_is_one_sentence(tmp_path: Path) -> None:
    missing = McpServerConfig("ghost", str(tmp_path / "no-such-server"), timeout=2, source="test-mcp.json")
    hub = McpHub({"ghost": missing}, start_timeout=5)
    try:
        with pytest.raises(ToolError, match=r"'ghost' could not be started \(No such file or directory: .*no-such-server\)"):
            hub.list_tools("ghost")
    finally:
        hub.close()

"""The tools offered in a chat: built-ins plus every configured MCP server's tools.

    tools = ToolSet.load(allow_dirs=[...], mcp_config=None)     # None: mcp.json in the config dir
    tools.list()                       # [Tool]; starts the MCP servers (problems -> tools.problems)
    tools.offered(names)               # {name: schema} for the parser; tools.schemas(names) for templates
    result = tools.call(call, approvals)   # ToolResult; never raises
    tools.close()

``call`` checks the name, validates the arguments against the schema, asks the approval policy,
runs the tool with its time and size bounds, and turns every failure into a ToolResult with
``is_error`` set (the model sees it; the person sees the same sentence)."""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from assistant.tools.approvals import ApprovalPolicy, denied_message
from assistant.tools.builtins import builtin_tools, cap_result
from assistant.tools.calls import Tool, ToolCall, ToolError, ToolResult
from assistant.tools.mcp_client import DEFAULT_RESULT_BYTES, McpHub
from assistant.tools.mcp_config import load_mcp_config
from assistant.tools.validate import schema_problem

_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_\-]")


class ToolSet:
    def __init__(self, tools: Sequence[Tool] = (), hub: McpHub | None = None, *,
                 max_result_bytes: int = DEFAULT_RESULT_BYTES) -> None:
        self._local = list(tools)
        self.hub = hub
        self.max_result_bytes = max_result_bytes
        self.problems: list[str] = []  # one sentence per MCP server that could not start
        self._tools: list[Tool] | None = None

    @classmethod
    def load(cls, *, allow_dirs: Sequence[Path | str] = (), mcp_config: Path | str | None = None,
             use_mcp: bool = True, max_result_bytes: int = DEFAULT_RESULT_BYTES) -> ToolSet:
        """Built-ins (file tools inside ``allow_dirs``) and the servers of ``mcp_config`` (None: the
        config dir's ``mcp.json`` when there is one). Bad config: ToolError, one sentence."""
        hub = None
        if use_mcp:
            servers = load_mcp_config(mcp_config)
            hub = McpHub(servers, max_result_bytes=max_result_bytes) if servers else None
        return cls(builtin_tools(allow_dirs), hub, max_result_bytes=max_result_bytes)

    def list(self) -> list[Tool]:
        """Every tool: built-ins first, then each server's (started now; a server that cannot start
        adds a sentence to ``problems`` and offers nothing). An MCP tool whose name is taken is
        offered as ``server__name``."""
        if self._tools is not None:
            return list(self._tools)
        tools = list(self._local)
        taken = {t.name for t in tools}
        if self.hub is not None:
            for server in self.hub.configs:
                try:
                    remote = self.hub.list_tools(server)
                except ToolError as exc:
                    self.problems.append(str(exc))
                    continue
                for rt in remote:
                    name = rt.name if rt.name not in taken else _BAD_NAME_CHARS.sub("_", f"{server}__{rt.name}")[:64]
                    taken.add(name)
                    tools.append(Tool(name, rt.description, rt.input_schema, server, rt.read_only,
                                      run=_remote_runner(self.hub, server, rt.name)))
        self._tools = tools
        return list(tools)

    def get(self, name: str) -> Tool | None:
        return next((t for t in self.list() if t.name == name), None)

    def select(self, names: Iterable[str] | None = None) -> builtins.list[Tool]:
        """The tools named (all when None); ToolError naming an unknown one."""
        tools = self.list()
        if names is None:
            return tools
        by_name = {t.name: t for t in tools}
        out = []
        for name in names:
            if name not in by_name:
                raise ToolError(f"There is no tool named {name!r}; `assistant tools list` shows them.")
            out.append(by_name[name])
        return out

    def offered(self, names: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """``{name: parameters schema}``: what ToolCallParser takes as ``offered``."""
        return {t.name: t.parameters for t in self.select(names)}

    def schemas(self, names: Iterable[str] | None = None) -> builtins.list[dict[str, Any]]:
        """The OpenAI ``tools`` list (what the chat template's ``tools`` variable gets)."""
        return [t.schema() for t in self.select(names)]

    def call(self, call: ToolCall, approvals: ApprovalPolicy | None = None) -> ToolResult:
        """Run one call. ``approvals`` None means the caller already has the person's approval."""
        tool = self.get(call.name)
        if tool is None or tool.run is None:
            names = ", ".join(t.name for t in self.list()) or "none"
            return ToolResult(f"There is no tool named {call.name!r}; the tools are: {names}.", is_error=True)
        problem = schema_problem(tool.name, tool.parameters, call.arguments)
        if problem:
            return ToolResult(problem, is_error=True)
        if approvals is not None and not approvals.allows(tool, call.arguments):
            return ToolResult(denied_message(tool.name), is_error=True)
        started = time.monotonic()
        try:
            result = tool.run(call.arguments)
        except ToolError as exc:
            result = ToolResult(str(exc), is_error=True)
        except Exception as exc:  # a tool's own failure is the model's to see, not a crash
            result = ToolResult(f"{tool.name} failed ({type(exc).__name__}: {str(exc)[:200]}).", is_error=True)
        result.seconds = result.seconds or time.monotonic() - started
        return cap_result(result, self.max_result_bytes)

    def run_calls(self, calls: Sequence[ToolCall], approvals: ApprovalPolicy | None) -> builtins.list[ToolResult]:
        """One round: each call in order (the approval is asked per call)."""
        return [self.call(c, approvals) for c in calls]

    def close(self) -> None:
        if self.hub is not None:
            self.hub.close()

    def __enter__(self) -> ToolSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _remote_runner(hub: McpHub, server: str, name: str) -> Any:
    return lambda arguments: hub.call(server, name, arguments)

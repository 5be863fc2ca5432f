"""MCP servers behind a synchronous API, for the app, the REPL, ``ask`` and ``assistant tools``.

    hub = McpHub(load_mcp_config(path))
    hub.list_tools("notes")                 # [RemoteTool(name, description, input_schema, read_only)]
    hub.call("notes", "search", {"q": "x"}) # ToolResult; never raises for what the server does
    hub.close()

An asyncio loop on a background thread runs every ``mcp.ClientSession``; a server starts on first
use. A call past its server's timeout kills the server's process tree (it starts again on the next
call); a result larger than ``max_result_bytes`` is cut with a note; the server's ``is_error``
reaches the model as a tool error. Startup failures raise ToolError with one sentence."""

from __future__ import annotations

import asyncio
import atexit
import json
import threading
import time
import weakref
from collections.abc import Coroutine, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, TypeVar

from assistant.tools.calls import ToolError, ToolResult, cap_text
from assistant.tools.mcp_config import McpServerConfig
from assistant.tools.mcp_transport import Channel, kill_tree, open_stdio

DEFAULT_RESULT_BYTES = 256 * 1024
DEFAULT_MESSAGE_BYTES = 8 * 1024 * 1024
MIN_START_SECONDS = 30.0  # starting may take longer than a call (imports, a package runner's first fetch)
T = TypeVar("T")


@dataclass
class RemoteTool:
    server: str
    name: str
    description: str
    input_schema: dict[str, Any] = field(default_factory=dict)
    read_only: bool = False  # the server's readOnlyHint (a hint, never a pre-approval)


class _Server:
    """One server's session, owned by the hub's loop."""

    def __init__(self, config: McpServerConfig, max_message_bytes: int, start_timeout: float | None) -> None:
        self.config = config
        self.max_message_bytes = max_message_bytes
        self.start_timeout = start_timeout if start_timeout is not None else max(config.timeout, MIN_START_SECONDS)
        self.session: Any = None
        self.channel: Channel | None = None
        self.tools: list[RemoteTool] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def who(self) -> str:
        return f"The MCP server {self.config.name!r}"

    def _why(self, exc: BaseException | None, doing: str) -> str:
        ch = self.channel
        if ch is not None and ch.fault:
            what = ch.fault
        elif ch is not None and ch.returncode is not None:
            what = f"exited (code {ch.returncode}) {doing}"
        elif isinstance(exc, FileNotFoundError | PermissionError | NotADirectoryError):
            what = f"could not be started ({exc.strerror}: {self.config.command})"
        elif exc is not None:
            what = f"failed {doing} ({type(exc).__name__}: {str(exc)[:160]})"
        else:
            what = f"stopped {doing}"
        tail = ch.stderr_line() if ch is not None else ""
        return f"{self.who} {what}" + (f"; its last words: {tail!r}" if tail else "")

    async def ensure(self) -> Any:
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self.session is not None and self._runner is not None and not self._runner.done():
                return self.session
            await self._start()
            return self.session

    async def _start(self) -> None:
        ready: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self.channel = None
        self._runner = asyncio.create_task(self._run(ready, self._stop))
        try:
            failure = await asyncio.wait_for(asyncio.shield(ready), self.start_timeout)
        except asyncio.TimeoutError:
            await self.stop()
            raise ToolError(f"{self.who} did not answer within {self.start_timeout:g} s of starting, so it was "
                            f"stopped; check its command in {self.config.source}.") from None
        if failure is not None:
            await self.stop()
            raise ToolError(self._why(failure, "before it answered") + f"; check its entry in {self.config.source}.")

    async def _run(self, ready: asyncio.Future[BaseException | None], stop: asyncio.Event) -> None:
        from mcp import ClientSession

        try:
            async with open_stdio(self.config, self.max_message_bytes) as (channel, read, write):
                self.channel = channel
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    listed = await session.list_tools()
                    self.tools = [_remote(self.config.name, t) for t in listed.tools]
                    self.session = session
                    ready.set_result(None)
                    await stop.wait()
        except BaseException as exc:  # the session's end, whatever it was, is reported through `ready`
            if not ready.done():
                ready.set_result(exc)
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
        finally:
            self.session = None
            if not ready.done():
                ready.set_result(None)

    async def stop(self) -> None:
        if self.channel is not None:
            kill_tree(self.channel.pid)
        if self._stop is not None:
            self._stop.set()
        if self._runner is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._runner), 5)
            except (asyncio.TimeoutError, Exception):
                self._runner.cancel()
        self.session = None

    async def call(self, tool: str, arguments: dict[str, Any], max_result_bytes: int) -> ToolResult:
        try:
            session = await self.ensure()
        except ToolError as exc:
            return ToolResult(str(exc), is_error=True)
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(session.call_tool(tool, arguments), self.config.timeout)
        except asyncio.TimeoutError:
            await self.stop()
            return ToolResult(f"{self.who} took longer than {self.config.timeout:g} s to answer {tool}, so it was "
                              "stopped; it starts again on the next call.", is_error=True,
                              seconds=time.monotonic() - started)
        except Exception as exc:
            runner_ended = self._runner is None or self._runner.done() or (self.channel and self.channel.fault)
            if runner_ended:
                await self.stop()
                return ToolResult(self._why(exc, f"while answering {tool}") + "; it starts again on the next call.",
                                  is_error=True, seconds=time.monotonic() - started)
            message = getattr(exc, "message", None) or str(exc)
            return ToolResult(f"{self.who} refused the call to {tool}: {str(message)[:300]}", is_error=True,
                              seconds=time.monotonic() - started)
        out = convert_result(result, max_result_bytes)
        out.seconds = time.monotonic() - started
        return out


def _remote(server: str, tool: Any) -> RemoteTool:
    schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
    annotations = getattr(tool, "annotations", None)
    read_only = bool(getattr(annotations, "read_only_hint", False)) if annotations is not None else False
    return RemoteTool(server, tool.name, tool.description or "", dict(schema) or {"type": "object", "properties": {}},
                      read_only)


def convert_result(result: Any, max_bytes: int) -> ToolResult:
    """An MCP CallToolResult as text for the model (text blocks joined; other blocks described)."""
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind}: {getattr(block, 'mime_type', '')}, {len(getattr(block, 'data', '')) * 3 // 4:,} bytes]")
        elif kind == "resource":
            inner = block.resource
            parts.append(getattr(inner, "text", None) or f"[resource {getattr(inner, 'uri', '')}]")
        elif kind == "resource_link":
            parts.append(f"[resource link {getattr(block, 'uri', '')}]")
        else:
            parts.append(f"[{kind or 'unknown'} content]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False))
    text, truncated = cap_text("\n".join(parts), max_bytes)
    return ToolResult(text, is_error=bool(getattr(result, "is_error", False)), truncated=truncated,
                      data=structured if isinstance(structured, dict) else {})


class McpHub:
    """Every configured server, started on first use, run on one background event loop."""

    def __init__(self, servers: Mapping[str, McpServerConfig], *, max_result_bytes: int = DEFAULT_RESULT_BYTES,
                 max_message_bytes: int = DEFAULT_MESSAGE_BYTES, start_timeout: float | None = None) -> None:
        """``start_timeout``: seconds a server may take to start and list its tools (None: its call
        timeout, at least 30 s)."""
        self.configs = dict(servers)
        self.max_result_bytes = max_result_bytes
        self._servers = {name: _Server(cfg, max_message_bytes, start_timeout) for name, cfg in self.configs.items()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self._closed = False

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        with self._guard:
            if self._closed:
                coro.close()
                raise ToolError("The MCP servers were shut down; start the command again.")
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-hub", daemon=True)
                self._thread.start()
                atexit.register(_close_ref, weakref.ref(self))
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise ToolError("The MCP servers did not respond in time; try again.") from None

    def _server(self, name: str) -> _Server:
        if name not in self._servers:
            raise ToolError(f"There is no MCP server named {name!r}; the configured ones are: "
                            f"{', '.join(self._servers) or 'none'}.")
        return self._servers[name]

    def list_tools(self, server: str) -> list[RemoteTool]:
        """The server's tools (it starts now if it has not); ToolError if it cannot start."""
        srv = self._server(server)

        async def go() -> list[RemoteTool]:
            await srv.ensure()
            return list(srv.tools or [])

        return self._run(go(), srv.start_timeout + 10)

    def call(self, server: str, tool: str, arguments: dict[str, Any]) -> ToolResult:
        srv = self._server(server)
        return self._run(srv.call(tool, arguments, self.max_result_bytes), srv.start_timeout + srv.config.timeout + 15)

    def stop(self, server: str) -> None:
        """Stop one server now (it starts again on its next use)."""
        srv = self._server(server)
        if self._loop is not None:
            self._run(srv.stop(), 10)

    def close(self) -> None:
        with self._guard:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def stop_all() -> None:
            await asyncio.gather(*(s.stop() for s in self._servers.values()), return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(stop_all(), loop).result(15)
        except Exception:
            for s in self._servers.values():
                if s.channel is not None:
                    kill_tree(s.channel.pid)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        if not thread.is_alive():
            loop.close()


def _close_ref(ref: weakref.ref[McpHub]) -> None:
    hub = ref()
    if hub is not None:
        hub.close()

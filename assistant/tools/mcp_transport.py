"""A stdio transport for ``mcp.ClientSession`` with the bounds a stranger's server needs.

The SDK's ``stdio_client`` buffers a line of any length and hides the process. This one yields the
same pair of streams plus a :class:`Channel` that knows the process: a message longer than
``max_message_bytes`` or a stdout line that is not JSON-RPC is a fault (the server is stopped and
the fault is kept for the error sentence), stderr keeps only its last few KB, and ``kill_tree``
ends the server with everything it started. Imports of ``mcp`` and ``anyio`` happen at call time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistant.tools.mcp_config import McpServerConfig

if TYPE_CHECKING:
    from anyio.abc import Process

READ_CHUNK = 64 * 1024
STDERR_TAIL = 4096


@dataclass
class Channel:
    """What the transport knows about its server, for the client's error sentences."""

    pid: int = 0
    fault: str | None = None  # why the transport stopped the server
    stderr: bytearray = field(default_factory=bytearray)
    returncode: int | None = None

    def stderr_line(self) -> str:
        lines = [ln.strip() for ln in self.stderr.decode("utf-8", errors="replace").splitlines() if ln.strip()]
        return lines[-1][:200] if lines else ""


def kill_tree(pid: int) -> None:
    """SIGKILL the server's process group (it leads its own session) and any descendant that left it."""
    if pid <= 0:
        return
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        children = []
    if sys.platform != "win32":
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    for proc in children:
        with suppress(psutil.Error):
            proc.kill()
    with suppress(psutil.Error):
        psutil.Process(pid).kill()


@asynccontextmanager
async def open_stdio(config: McpServerConfig, max_message_bytes: int) -> AsyncIterator[tuple[Channel, Any, Any]]:
    """Start the server; yield (channel, read_stream, write_stream) for ``ClientSession``."""
    import anyio
    from mcp.shared.message import SessionMessage
    from mcp_types import jsonrpc_message_adapter

    channel = Channel()
    process: Process = await anyio.open_process(
        [config.command, *config.args], env=config.child_env(), cwd=config.cwd, start_new_session=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    channel.pid = process.pid
    read_send, read_recv = anyio.create_memory_object_stream[Any](0)
    write_send, write_recv = anyio.create_memory_object_stream[Any](0)
    closing = False

    def fault(why: str) -> None:
        if channel.fault is None and not closing:
            channel.fault = why
        kill_tree(process.pid)

    async def reader() -> None:
        assert process.stdout is not None
        buf = bytearray()
        async with read_send:
            try:
                while True:
                    chunk = await process.stdout.receive(READ_CHUNK)
                    buf += chunk
                    while (nl := buf.find(b"\n")) >= 0:
                        line = bytes(buf[:nl]).strip()
                        del buf[: nl + 1]
                        if len(line) > max_message_bytes:
                            return fault(f"sent a message larger than {max_message_bytes // (1024 * 1024)} MB")
                        if not line:
                            continue
                        try:
                            message = jsonrpc_message_adapter.validate_json(line, by_name=False)
                        except ValueError:
                            text = line[:60].decode("utf-8", errors="replace")
                            return fault(f"printed text that is not an MCP message on its stdout ({text!r})")
                        await read_send.send(SessionMessage(message))
                    if len(buf) > max_message_bytes:
                        return fault(f"sent a message larger than {max_message_bytes // (1024 * 1024)} MB")
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                return None

    async def writer() -> None:
        assert process.stdin is not None
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            async with write_recv:
                async for session_message in write_recv:
                    data = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send(data.encode("utf-8") + b"\n")

    async def drain_stderr() -> None:
        assert process.stderr is not None
        with suppress(anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            while True:
                channel.stderr += await process.stderr.receive(READ_CHUNK)
                del channel.stderr[:-STDERR_TAIL]

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            tg.start_soon(writer)
            tg.start_soon(drain_stderr)
            try:
                yield channel, read_recv, write_send
            finally:
                closing = True
                kill_tree(process.pid)
                tg.cancel_scope.cancel()
    finally:
        kill_tree(process.pid)
        with anyio.move_on_after(2, shield=True):
            channel.returncode = await process.wait()
        with suppress(Exception):
            await process.aclose()

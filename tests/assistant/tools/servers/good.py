"""A well-behaved MCP stdio server for the tests (the SDK's own MCPServer)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

server = MCPServer("good")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def fail(reason: str = "it failed") -> str:
    """Always fails with the reason (the result carries is_error)."""
    raise ToolError(reason)


@server.tool()
def big(n: int) -> str:
    """Return n characters."""
    return "x" * n


@server.tool()
def sleep(seconds: float) -> str:
    """Sleep, then answer."""
    time.sleep(seconds)
    return "awake"


@server.tool()
def env(name: str) -> str:
    """The value of an environment variable in the server (or <unset>)."""
    return os.environ.get(name, "<unset>")


@server.tool()
def child() -> int:
    """Start a long-lived child process (a process tree) and return its pid."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    return proc.pid


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


if __name__ == "__main__":
    server.run()

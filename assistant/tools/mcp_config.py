"""The MCP servers a person configured: ``mcp.json`` in the config dir (moved by ASSISTANT_HOME), or
the file given with ``--mcp-config FILE``, in the ``mcpServers`` shape other clients use::

    {"mcpServers": {"notes": {"command": "python3", "args": ["notes_server.py"],
                              "env": {"NOTES_DIR": "/home/me/notes"}, "timeout": 30}}}

Keys of an entry: ``command`` (required), ``args``, ``env``, ``timeout`` (seconds a call may take,
default 60), ``cwd``, ``type`` (only "stdio"). The child process gets no inherited environment
beyond ``ENV_ALLOW`` plus what ``env`` names. Bad JSON or an unknown key is one sentence naming the
file and the key."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.tools.calls import ToolError

DEFAULT_TIMEOUT = 60.0
MAX_CONFIG_BYTES = 1024 * 1024
ENV_ALLOW = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "USER", "LOGNAME", "SYSTEMROOT")
ENTRY_KEYS = ("command", "args", "env", "timeout", "cwd", "type")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


@dataclass(frozen=True)
class McpServerConfig:
    name: str
    command: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    cwd: str | None = None
    source: str = "mcp.json"  # the file it came from, for error sentences

    def child_env(self) -> dict[str, str]:
        """The environment the server starts with: the allow-list from ours, then the entry's own."""
        env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
        env.update(self.env)
        return env


def default_config_path() -> Path:
    from models.paths import config_dir

    return config_dir() / "mcp.json"


def load_mcp_config(path: Path | str | None = None) -> dict[str, McpServerConfig]:
    """The servers in ``path`` (None: ``mcp.json`` in the config dir, which may be absent)."""
    if path is None:
        default = default_config_path()
        if not default.is_file():
            return {}
        path = default
    file = Path(path).expanduser()
    try:
        data = file.read_bytes()[: MAX_CONFIG_BYTES + 1]
    except FileNotFoundError:
        raise ToolError(f"The MCP config file {file} does not exist; create it or pass another with --mcp-config FILE.") from None
    except OSError as exc:
        raise ToolError(f"The MCP config file {file} cannot be read ({exc.strerror}); check its permissions.") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ToolError(f"The MCP config file {file} is larger than 1 MB; it should list a few servers.")
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ToolError(f"The MCP config file {file} is not UTF-8 text; save it as UTF-8 JSON.") from None
    except json.JSONDecodeError as exc:
        raise ToolError(f"The MCP config file {file} is not valid JSON ({exc.msg} at line {exc.lineno}, "
                        f"column {exc.colno}); fix it.") from None
    return parse_mcp_config(doc, str(file))


def parse_mcp_config(doc: Any, source: str = "mcp.json") -> dict[str, McpServerConfig]:
    if not isinstance(doc, dict):
        raise ToolError(f"The MCP config file {source} must hold a JSON object with \"mcpServers\".")
    for key in doc:
        if key != "mcpServers":
            raise ToolError(f"The MCP config file {source} has an unknown key {key!r}; the only key is \"mcpServers\".")
    servers = doc.get("mcpServers", {})
    if not isinstance(servers, dict):
        raise ToolError(f"In the MCP config file {source}, \"mcpServers\" must be an object of servers by name.")
    return {name: _entry(name, entry, source) for name, entry in servers.items()}


def _entry(name: str, entry: Any, source: str) -> McpServerConfig:
    where = f"In the MCP config file {source}, server {name!r}"
    if not _NAME.match(name):
        raise ToolError(f"In the MCP config file {source}, the server name {name!r} must be letters, digits, '.', '_' or '-'.")
    if not isinstance(entry, dict):
        raise ToolError(f"{where} must be an object with \"command\".")
    for key in entry:
        if key not in ENTRY_KEYS:
            raise ToolError(f"{where} has an unknown key {key!r}; the keys are: {', '.join(ENTRY_KEYS)}.")
    command = entry.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ToolError(f"{where} needs \"command\": the program that starts it.")
    if entry.get("type", "stdio") != "stdio":
        raise ToolError(f"{where} has type {entry['type']!r}; only \"stdio\" servers are supported.")
    args = entry.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ToolError(f"{where} has \"args\" that are not a list of strings.")
    env = entry.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ToolError(f"{where} has \"env\" that is not an object of strings.")
    timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 86400:
        raise ToolError(f"{where} has \"timeout\" {timeout!r}; give seconds between 0 and 86400.")
    cwd = entry.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise ToolError(f"{where} has \"cwd\" that is not a folder path.")
    return McpServerConfig(name, command, tuple(args), dict(env), float(timeout), cwd, source)

"""The built-in tools an offline assistant needs, each a Tool with a JSON schema:

- ``read_file`` and ``list_folder``: only inside the folders the person allowed (``--allow-dir``);
  paths are resolved (symlinks followed) and refused when they land outside; reads are capped.
- ``current_time``: the local date and time (or in an IANA time zone).
- ``calculator``: arithmetic through ``calculator.py`` (parsed, never evaluated by Python).

All four only read (they change nothing), so the config may pre-approve any of them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant.tools.calculator import CalcError, calculate, format_number
from assistant.tools.calls import Tool, ToolError, ToolResult, cap_text

DEFAULT_READ_BYTES = 128 * 1024
MAX_ENTRIES = 500
BUILTIN_NAMES = ("read_file", "list_folder", "current_time", "calculator")


def _error(message: str) -> ToolResult:
    return ToolResult(message, is_error=True)


class Folders:
    """The folders the person allowed, resolved once; ``resolve`` maps a path the model gave to a
    real path inside one of them, or raises ToolError."""

    def __init__(self, allowed: Sequence[Path | str]) -> None:
        roots = []
        for folder in allowed:
            path = Path(folder).expanduser()
            if not path.is_dir():
                raise ToolError(f"The allowed folder {path} is not a folder; pass an existing one with --allow-dir.")
            roots.append(path.resolve())
        self.roots = roots

    def resolve(self, given: str) -> Path:
        if not given or "\x00" in given:
            raise ToolError("Give a path (absolute, or relative to an allowed folder).")
        raw = Path(given).expanduser()
        candidates = [raw] if raw.is_absolute() else [root / raw for root in self.roots]
        for candidate in candidates:
            try:
                real = candidate.resolve(strict=True)
            except (OSError, RuntimeError):
                continue
            if any(real == root or real.is_relative_to(root) for root in self.roots):
                return real
            raise ToolError(f"{given} is outside the folders the person allowed ({self.describe()}).")
        raise ToolError(f"{given} does not exist in the folders the person allowed ({self.describe()}).")

    def describe(self) -> str:
        return ", ".join(str(r) for r in self.roots)


def _read_file(folders: Folders, max_bytes: int, args: dict[str, Any]) -> ToolResult:
    try:
        path = folders.resolve(str(args.get("path", "")))
    except ToolError as exc:
        return _error(str(exc))
    if not path.is_file():
        return _error(f"{args.get('path')} is not a file; list_folder shows what a folder holds.")
    offset = int(args.get("offset", 0) or 0)
    limit = min(int(args.get("max_bytes", max_bytes) or max_bytes), max_bytes)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            fh.seek(max(0, offset))
            data = fh.read(limit + 1)
    except OSError as exc:
        return _error(f"{args.get('path')} cannot be read ({exc.strerror}).")
    if b"\x00" in data[:8192]:
        return _error(f"{args.get('path')} is a binary file ({size:,} bytes); only text files can be read.")
    text = data[:limit].decode("utf-8", errors="replace")
    if len(data) > limit:
        end = max(0, offset) + limit
        text += f"\n[truncated: the file has {size:,} bytes; read on with offset={end}]"
    return ToolResult(text, truncated=len(data) > limit)


def _list_folder(folders: Folders, args: dict[str, Any]) -> ToolResult:
    given = str(args.get("path") or ".")
    try:
        path = folders.resolve(given)
    except ToolError as exc:
        return _error(str(exc))
    if not path.is_dir():
        return _error(f"{given} is not a folder.")
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError as exc:
        return _error(f"{given} cannot be listed ({exc.strerror}).")
    lines = [f"{path}:"]
    for entry in entries[:MAX_ENTRIES]:
        try:
            if entry.is_symlink():
                lines.append(f"{entry.name} -> (link)")
            elif entry.is_dir():
                lines.append(f"{entry.name}/")
            else:
                lines.append(f"{entry.name}  ({entry.stat().st_size:,} bytes)")
        except OSError:
            lines.append(f"{entry.name}  (unreadable)")
    if len(entries) > MAX_ENTRIES:
        lines.append(f"[{len(entries) - MAX_ENTRIES} more entries not shown]")
    return ToolResult("\n".join(lines), truncated=len(entries) > MAX_ENTRIES)


def _current_time(args: dict[str, Any]) -> ToolResult:
    zone = args.get("timezone")
    if zone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            now = datetime.now(ZoneInfo(str(zone)))
        except (ZoneInfoNotFoundError, ValueError):
            return _error(f"Unknown time zone {zone!r}; give an IANA name such as Europe/Paris.")
    else:
        now = datetime.now().astimezone()
    return ToolResult(f"{now.strftime('%A')} {now.isoformat(timespec='seconds')} ({now.tzname()})")


def _calculator(args: dict[str, Any]) -> ToolResult:
    expression = str(args.get("expression", ""))
    try:
        return ToolResult(format_number(calculate(expression)))
    except CalcError as exc:
        return _error(f"The calculator refused {expression[:80]!r}: {exc}.")


def builtin_tools(allowed_dirs: Sequence[Path | str] = (), *, max_read_bytes: int = DEFAULT_READ_BYTES) -> list[Tool]:
    """The built-ins; the file tools only when some folder is allowed."""
    tools: list[Tool] = []
    if allowed_dirs:
        folders = Folders(allowed_dirs)
        where = folders.describe()
        tools.append(Tool(
            "read_file", f"Read a text file inside the allowed folders ({where}).",
            {"type": "object", "properties": {
                "path": {"type": "string", "description": "The file: absolute, or relative to an allowed folder."},
                "offset": {"type": "integer", "minimum": 0, "description": "Byte to start at (default 0)."},
                "max_bytes": {"type": "integer", "minimum": 1, "description": f"At most this many bytes (cap {max_read_bytes})."},
            }, "required": ["path"], "additionalProperties": False},
            read_only=True, run=lambda a: _read_file(folders, max_read_bytes, a)))
        tools.append(Tool(
            "list_folder", f"List a folder inside the allowed folders ({where}).",
            {"type": "object", "properties": {
                "path": {"type": "string", "description": "The folder: absolute, or relative to an allowed folder."},
            }, "additionalProperties": False},
            read_only=True, run=lambda a: _list_folder(folders, a)))
    tools.append(Tool(
        "current_time", "The current date, time and weekday (local, or in the given IANA time zone).",
        {"type": "object", "properties": {
            "timezone": {"type": "string", "description": "An IANA time zone such as Europe/Paris (default: local)."},
        }, "additionalProperties": False},
        read_only=True, run=_current_time))
    tools.append(Tool(
        "calculator", "Evaluate arithmetic: + - * / // % ** (or ^), parentheses, sqrt, log, sin, ..., pi, e.",
        {"type": "object", "properties": {
            "expression": {"type": "string", "description": "For example: (3 + 4) * 2 ** 10 / 7"},
        }, "required": ["expression"], "additionalProperties": False},
        read_only=True, run=_calculator))
    return tools


def cap_result(result: ToolResult, max_bytes: int) -> ToolResult:
    text, cut = cap_text(result.content, max_bytes)
    if cut:
        result.content, result.truncated = text, True
    return result

"""Built-in tools: file access only inside allowed folders (symlinks resolved), caps, the clock, and a
calculator that never evaluates Python and bounds its sizes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from assistant.tools.builtins import builtin_tools
from assistant.tools.calculator import CalcError, calculate
from assistant.tools.calls import Tool, ToolError


def by_name(tools: list[Tool]) -> dict[str, Tool]:
    return {t.name: t for t in tools}


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    allowed = tmp_path / "allowed"
    (allowed / "sub").mkdir(parents=True)
    (allowed / "notes.txt").write_text("héllo\nworld\n", encoding="utf-8")
    (allowed / "sub" / "deep.md").write_text("# deep", encoding="utf-8")
    (allowed / "blob.bin").write_bytes(b"\x00\x01\x02" * 10)
    (tmp_path / "secret.txt").write_text("top secret", encoding="utf-8")
    os.symlink(tmp_path / "secret.txt", allowed / "escape.txt")
    os.symlink(tmp_path, allowed / "up")
    return allowed


def run(tool: Tool, **args: object) -> tuple[str, bool]:
    assert tool.run is not None
    result = tool.run(dict(args))
    return result.content, result.is_error


def test_file_tools_are_offered_only_with_an_allowed_folder(folder: Path) -> None:
    assert set(by_name(builtin_tools())) == {"current_time", "calculator"}
    assert set(by_name(builtin_tools([folder]))) == {"read_file", "list_folder", "current_time", "calculator"}
    assert all(t.read_only and t.source == "builtin" for t in builtin_tools([folder]))
    with pytest.raises(ToolError, match="not a folder"):
        builtin_tools([folder / "notes.txt"])


def test_read_file_inside_and_refusals_outside(folder: Path, tmp_path: Path) -> None:
    read = by_name(builtin_tools([folder]))["read_file"]
    assert run(read, path="notes.txt") == ("héllo\nworld\n", False)
    assert run(read, path=str(folder / "sub" / "deep.md")) == ("# deep", False)
    for outside in (str(tmp_path / "secret.txt"), "../secret.txt", "escape.txt", "up/secret.txt", "/etc/passwd"):
        text, is_error = run(read, path=outside)
        assert is_error and "outside the folders the person allowed" in text or "does not exist" in text, outside
        assert "top secret" not in text
    text, is_error = run(read, path="blob.bin")
    assert is_error and "binary" in text
    text, is_error = run(read, path="missing.txt")
    assert is_error and "does not exist" in text
    assert run(read, path="sub")[1] is True


def test_read_file_is_capped(folder: Path) -> None:
    (folder / "big.txt").write_text("a" * 5000, encoding="utf-8")
    read = by_name(builtin_tools([folder], max_read_bytes=1000))["read_file"]
    text, is_error = run(read, path="big.txt")
    assert not is_error and text.startswith("a" * 1000) and "offset=1000" in text and len(text) < 1100
    text, _ = run(read, path="big.txt", offset=4900, max_bytes=50)
    assert text.startswith("a" * 50) and "offset=4950" in text


def test_list_folder(folder: Path) -> None:
    listing = by_name(builtin_tools([folder]))["list_folder"]
    text, is_error = run(listing)
    assert not is_error
    assert "sub/" in text and "notes.txt  (13 bytes)" in text and "escape.txt -> (link)" in text
    text, is_error = run(listing, path="up")
    assert is_error and "outside" in text


def test_current_time() -> None:
    clock = by_name(builtin_tools())["current_time"]
    text, is_error = run(clock)
    assert not is_error and time.strftime("%Y-%m-%d") in text
    text, is_error = run(clock, timezone="UTC")
    assert not is_error and "UTC" in text
    text, is_error = run(clock, timezone="Mars/Olympus")
    assert is_error and "Unknown time zone" in text


@pytest.mark.parametrize("expr, value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("2 ** 10", 1024), ("2^10", 1024), ("7 / 2", 3.5), ("7 // 2", 3),
    ("-3 % 5", 2), ("sqrt(16) + abs(-2)", 6.0), ("round(pi, 3)", 3.142), ("factorial(5)", 120), ("max(1, 9, 3)", 9),
    ("2 ** -1", 0.5), ("10 ** 300", 10**300),
])
def test_calculator_values(expr: str, value: float) -> None:
    assert calculate(expr) == value


@pytest.mark.parametrize("expr, why", [
    ("9 ** 9 ** 9", "bits"), ("2 ** 100000", "bits"), ("factorial(100000)", "factorial"), ("1e308 * 10", "too large"),
    ("1 / 0", "division by zero"), ("__import__('os').system('true')", "not arithmetic"), ("().__class__", "not arithmetic"),
    ("x + 1", "unknown name"), ("open('f')", "not arithmetic"), ("1 +", "does not parse"), ("(" * 240 + "1" + ")" * 240, "parse|nests"),
    ("'a' * 10", "not arithmetic"), ("sqrt(-1)", "math error"), ("10 ** 2000 * 10 ** 2000", "bits"), ("2" * 600, "longer"),
])
def test_calculator_refusals(expr: str, why: str) -> None:
    started = time.monotonic()
    with pytest.raises(CalcError, match=why):
        calculate(expr)
    assert time.monotonic() - started < 1


def test_calculator_tool_reports_errors_as_results() -> None:
    calc = by_name(builtin_tools())["calculator"]
    assert run(calc, expression="6 * 7") == ("42", False)
    text, is_error = run(calc, expression="9 ** 9 ** 9")
    assert is_error and text.startswith("The calculator refused")

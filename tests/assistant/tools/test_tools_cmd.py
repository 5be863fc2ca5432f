"""`assistant tools list` and `assistant tools call`: output, one-sentence errors, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from assistant.cli import main

SERVERS = Path(__file__).parent / "servers"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def config(tmp_path: Path, **servers: dict) -> Path:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return path


def test_list_builtins(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "tools", "list")
    assert code == 0 and "calculator  (builtin, read-only)" in out and "read_file" not in out and not err
    code, out, _ = run(capsys, "tools", "list", "--allow-dir", str(tmp_path), "--json")
    tools = {t["name"]: t for t in json.loads(out)}
    assert code == 0 and tools["read_file"]["source"] == "builtin" and tools["read_file"]["parameters"]["required"] == ["path"]


def test_list_with_servers_reports_a_broken_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = config(tmp_path, good={"command": sys.executable, "args": [str(SERVERS / "good.py")]},
                  broken={"command": sys.executable, "args": [str(SERVERS / "exits.py")], "timeout": 5})
    code, out, err = run(capsys, "tools", "list", "--mcp-config", str(path))
    assert code == 1
    assert "add  (good)" in out and "echo  (good, read-only)" in out and '"a": {' in out
    assert err.count("\n") == 1 and "The MCP server 'broken' exited (code 3)" in err


def test_call_prints_the_result(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "n.txt").write_text("note body", encoding="utf-8")
    assert run(capsys, "tools", "call", "calculator", "--args", '{"expression": "6*7"}') == (0, "42\n", "")
    code, out, _ = run(capsys, "tools", "call", "read_file", "--allow-dir", str(tmp_path), "--args", '{"path": "n.txt"}')
    assert (code, out) == (0, "note body\n")


@pytest.mark.parametrize("args, words", [
    (["nope"], "There is no tool named 'nope'"),
    (["calculator", "--args", "{oops"], "--args must be one JSON object"),
    (["calculator", "--args", "[1]"], "--args must be one JSON object"),
    (["calculator", "--args", '{"expression": 3}'], "at 'expression': 3 is not of type 'string'"),
    (["calculator", "--args", '{"expression": "1/0"}'], "division by zero"),
    (["calculator", "--mcp-config", "/nonexistent/mcp.json"], "does not exist"),
])
def test_call_errors_are_one_sentence_and_exit_1(capsys: pytest.CaptureFixture[str], args: list[str], words: str) -> None:
    code, out, err = run(capsys, "tools", "call", *args)
    assert code == 1 and not out and err.startswith("Error: ") and words in err and err.count("\n") == 1, err


def test_bad_config_is_one_sentence(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = config(tmp_path, a={"command": "x", "enviroment": {}})
    code, _, err = run(capsys, "tools", "list", "--mcp-config", str(path))
    assert code == 1 and f"The MCP config file {path}, server 'a' has an unknown key 'enviroment'" in err.replace(
        "In the MCP config file", "The MCP config file")

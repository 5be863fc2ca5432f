"""The mcpServers config: where it lives, its keys, and one sentence per mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.tools.calls import ToolError
from assistant.tools.mcp_config import DEFAULT_TIMEOUT, default_config_path, load_mcp_config


def write(path: Path, doc: object) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def test_default_file_is_in_the_config_dir_and_may_be_absent(assistant_home: Path) -> None:
    assert default_config_path() == assistant_home / "config" / "mcp.json"
    assert load_mcp_config() == {}
    default_config_path().parent.mkdir(parents=True)
    write(default_config_path(), {"mcpServers": {"notes": {"command": "notes-server"}}})
    servers = load_mcp_config()
    assert servers["notes"].command == "notes-server" and servers["notes"].timeout == DEFAULT_TIMEOUT


def test_a_full_entry(tmp_path: Path) -> None:
    path = write(tmp_path / "m.json", {"mcpServers": {"fs": {
        "command": "python3", "args": ["-m", "fs"], "env": {"ROOT": "/data"}, "timeout": 5, "cwd": "/tmp", "type": "stdio"}}})
    fs = load_mcp_config(path)["fs"]
    assert (fs.args, fs.env, fs.timeout, fs.cwd, fs.source) == (("-m", "fs"), {"ROOT": "/data"}, 5.0, "/tmp", str(path))


def test_child_environment_is_the_allow_list_plus_the_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("PATH", "/usr/bin")
    path = write(tmp_path / "m.json", {"mcpServers": {"a": {"command": "x", "env": {"TOKEN": "t"}}}})
    env = load_mcp_config(path)["a"].child_env()
    assert env["PATH"] == "/usr/bin" and env["TOKEN"] == "t" and "OPENAI_API_KEY" not in env


@pytest.mark.parametrize("doc, words", [
    ("{not json", ["not valid JSON", "line 1, column 2"]),
    ([1, 2], ["must hold a JSON object"]),
    ({"servers": {}}, ["unknown key 'servers'"]),
    ({"mcpServers": []}, ["\"mcpServers\" must be an object"]),
    ({"mcpServers": {"a": {"command": "x", "comand": "y"}}}, ["server 'a'", "unknown key 'comand'", "command, args"]),
    ({"mcpServers": {"a": {"args": []}}}, ["server 'a' needs \"command\""]),
    ({"mcpServers": {"a": {"command": "x", "args": "-v"}}}, ["\"args\" that are not a list"]),
    ({"mcpServers": {"a": {"command": "x", "env": {"A": 1}}}}, ["\"env\" that is not an object of strings"]),
    ({"mcpServers": {"a": {"command": "x", "timeout": -1}}}, ["\"timeout\" -1"]),
    ({"mcpServers": {"a": {"command": "x", "type": "http"}}}, ["only \"stdio\""]),
    ({"mcpServers": {"a/b": {"command": "x"}}}, ["server name 'a/b'"]),
])
def test_mistakes_are_one_sentence_naming_the_file_and_key(tmp_path: Path, doc: object, words: list[str]) -> None:
    path = write(tmp_path / "mcp.json", doc)
    with pytest.raises(ToolError) as err:
        load_mcp_config(path)
    text = str(err.value)
    assert str(path) in text and all(w in text for w in words), text
    assert "\n" not in text and text.endswith(".")


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="does not exist; create it or pass another with --mcp-config"):
        load_mcp_config(tmp_path / "nope.json")

"""Bad input: one clear sentence on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.assistant.cli_helpers import run_cli
from tests.models.gguf_samples import write_tiny_gguf


def assert_one_sentence_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("Error: ") and needle in lines[-1], proc.stderr


def test_help_is_fast_and_imports_no_heavy_module() -> None:
    code = (
        "import sys; from assistant.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'llama_cpp', 'textual', 'numpy') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr
    assert "ask" in proc.stdout and "doctor" in proc.stdout


@pytest.mark.parametrize("sub", ["ask", "chat", "models", "doctor"])
def test_each_subcommand_help_imports_no_heavy_module(sub: str) -> None:
    code = (
        "import sys; from assistant.cli import main\n"
        f"try:\n    main([{sub!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('torch', 'transformers', 'llama_cpp') if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_empty_prompt() -> None:
    assert_one_sentence_error(run_cli("ask", "   "), "The prompt is empty")


def test_unknown_model_lists_the_known_ones() -> None:
    proc = run_cli("ask", "--model", "llama-9000", "hi")
    assert_one_sentence_error(proc, "Unknown model 'llama-9000'")
    assert "smollm2-135m-instruct" in proc.stderr and "gemma3-270m" in proc.stderr


def test_a_path_that_is_not_a_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_text("just some text, definitely not a model")
    assert_one_sentence_error(run_cli("ask", "--model", str(bad), "hi"), "bad magic")


def test_empty_and_truncated_gguf(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    assert_one_sentence_error(run_cli("ask", "--model", str(empty), "hi"), "is empty")
    good = write_tiny_gguf(tmp_path / "t.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good[: len(good) - 30])
    assert_one_sentence_error(run_cli("ask", "--model", str(cut), "hi"), "tensor data is shorter")


def test_missing_model_path(tmp_path: Path) -> None:
    assert_one_sentence_error(run_cli("ask", "--model", str(tmp_path / "x.gguf"), "hi"), "does not exist")


def test_model_that_does_not_fit_in_memory(smollm2_path: Path) -> None:
    # 10 million tokens of context: the KV cache alone is far beyond this machine's memory
    proc = run_cli("ask", "--ctx-size", "10000000", "hi")
    assert_one_sentence_error(proc, "--force")


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    proc = run_cli("ask", "hi", env={"ASSISTANT_HOME": str(blocker / "home")})
    assert_one_sentence_error(proc, "ASSISTANT_HOME")


def test_unreadable_chat_template(tmp_path: Path) -> None:
    proc = run_cli("ask", "--chat-template", str(tmp_path / "none.jinja"), "hi")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr


def test_debug_shows_the_traceback() -> None:
    proc = run_cli("ask", "--model", "nope", "hi", env={"ASSISTANT_DEBUG": "1"})
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_models_list_shows_what_resolves() -> None:
    proc = run_cli("models", "list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "SIZE", "ARCH"]
    smol = next(line for line in lines if line.startswith("smollm2-135m-instruct*"))
    assert "llama" in smol and "Q4_1" in smol and "8192" in smol
    assert any(line.startswith("gemma3-270m") and "gemma3" in line for line in lines)


def test_doctor_reports_each_check_with_a_verdict() -> None:
    proc = run_cli("doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = {line.split()[1] for line in proc.stdout.splitlines()}
    assert {"python", "llama.cpp", "cpu", "gpu", "memory", "data", "model"} <= names
    for line in proc.stdout.splitlines():
        assert line.split()[0] in {"ok", "warn", "fail", "info"}
    json.dumps(proc.stdout)

"""`assistant chat --plain --chat-template evil.jinja` with scripted stdin, the real CLI on the bundled
model in a subprocess under the memory limit of tests/bounded_cli.py: each hostile template's breach
is one `Error:` line, the template's sentence, and the session goes on to the next line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.assistant.engine.test_untrusted_templates import DOUBLE_40, NESTED_LOOPS, RECURSIVE_MACRO
from tests.bounded_cli import CPU_LIMIT_S, GB, PEAK_LIMIT, run_bounded

SENTENCE = re.compile(r"The --chat-template file [^\n]+; fix it or pass another with --chat-template FILE\.")


HOSTILE = {"double": (DOUBLE_40, "tried to build more than"), "loops": (NESTED_LOOPS, "took more than 2 s to render"),
           "recursion": (RECURSIVE_MACRO, "nests calls deeper than")}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_repl_with_a_hostile_template_says_one_sentence_and_goes_on(tmp_path: Path, name: str) -> None:
    source, words = HOSTILE[name]
    evil = tmp_path / f"{name}.jinja"
    evil.write_text(source)
    script = tmp_path / "stdin.txt"
    script.write_text("hi\n/set temperature 0.5\n/quit\nnever read\n")
    result = run_bounded("chat", "--plain", "--chat-template", str(evil), "--ctx-size", "512", "--threads", "1",
                         "--max-tokens", "4", stdin_path=str(script))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.stdout
    assert SENTENCE.fullmatch(errors[0].removeprefix("Error: ")), errors[0]
    assert words in errors[0] and len(errors[0]) < 400
    if name == "double":
        assert "512-token context" in errors[0]
    # the session went on: the next line was read and answered, then /quit left (the line after it unread)
    assert lines.index("[temperature = 0.5]") == lines.index(errors[0]) + 1, result.stdout
    assert lines[-1] == "[temperature = 0.5]" and "never read" not in result.stdout
    assert result.cpu_s < CPU_LIMIT_S, f"{result.cpu_s:.1f} s of CPU"
    assert result.peak_bytes < PEAK_LIMIT, f"peak {result.peak_bytes / GB:.2f} GB"

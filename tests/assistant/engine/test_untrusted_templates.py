"""Hostile chat templates and inputs: bounded in time, size and depth; one sentence, never a hang.

In-process tests cover each way a template can try to blow up; the CLI tests run the real
``assistant ask`` in a subprocess under an address-space limit (tests/bounded_cli.py).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from assistant.engine.base import Message
from assistant.engine.sandbox import RENDER_SECONDS
from assistant.engine.template import ChatTemplate, TemplateRefused
from tests.bounded_cli import run_bounded

DOUBLE_40 = ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
             "{{ ns.s }}")
NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
RECURSIVE_MACRO = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"
S = "{% set s = 'x' * 60000 %}"

SIZE = {
    "double_plus": "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
    "double_tilde": DOUBLE_40,
    "multiply": "{{ 'x' * 100000000 }}",
    "lipsum": "{{ lipsum(100000) }}",
    "center": "{{ 'x'|center(1000000000) }}",
    "percent_width": "{{ '%1000000000d' % 1 }}",
    "percent_star": "{{ '%*d' % (1000000000, 1) }}",
    "format_width": "{{ '{:>1000000000}'.format(1) }}",
    "format_nested_width": "{{ '{0:{1}}'.format(1, 1000000000) }}",
    "power": "{{ 10 ** 100000000 }}",
    "replace_empty": "{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s.replace('', ns.s) %}{% endfor %}",
    "join_big_sep": S + "{{ [s, s, s, s, s, s, s, s, s, s]|join(s) }}",
    "output_flood": "{% for i in range(100000) %}{% for j in range(100) %}xxxxxxxxxxxxxxxx{% endfor %}{% endfor %}",
    "macro_buffer": "{% macro m() %}{% for i in range(100000) %}{{ 'y' * 60000 }}{% endfor %}{% endmacro %}{% set y = m() %}",
    "list_repr": S + "{{ [s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s] }}",
    "tojson": S + "{{ [s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s]|tojson }}",
    "indent": "{{ 'a\nb\nc'|indent(1000000000) }}",
    "batch_fill": "{{ [1]|batch(100000000, 'x')|list }}",
    "map_center": "{{ range(100000)|map('string')|map('center', 60000)|join }}",
    "source_too_long": "x" * 300_000,
}
DEPTH = {"recursive_macro": RECURSIVE_MACRO, "recursive_loop": "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
         "parse_nesting": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"}
TIME = {"nested_loops": NESTED_LOOPS,
        "sort_loop": "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}"}


def msgs() -> list[Message]:
    return [Message("system", "S"), Message("user", "hi")]


def render(source: str, origin: str = "override") -> str:
    return ChatTemplate(source, origin, model_file="evil.gguf", context_tokens=8192).render(msgs())


def assert_sentence(exc: BaseException, origin_words: str) -> None:
    text = str(exc)
    assert "\n" not in text and text.endswith(".") and len(text) < 400
    assert text.startswith(origin_words) and "--chat-template FILE" in text


@pytest.mark.parametrize("name", sorted(SIZE))
def test_size_breach_is_one_sentence_and_fast(name: str) -> None:
    start = time.monotonic()
    with pytest.raises(TemplateRefused) as info:
        render(SIZE[name])
    assert time.monotonic() - start < RENDER_SECONDS
    assert_sentence(info.value, "The --chat-template file")
    if name != "source_too_long":
        assert "characters" in str(info.value) and "8192-token context" in str(info.value)


@pytest.mark.parametrize("name", sorted(DEPTH))
def test_depth_breach(name: str) -> None:
    with pytest.raises(TemplateRefused, match="nests") as info:
        render(DEPTH[name], "gguf")
    assert_sentence(info.value, "The chat template inside evil.gguf")


@pytest.mark.parametrize("name", sorted(TIME))
def test_time_breach_near_the_deadline(name: str) -> None:
    start = time.monotonic()
    with pytest.raises(TemplateRefused, match="took more than 2 s") as info:
        render(TIME[name])
    assert time.monotonic() - start < RENDER_SECONDS + 6  # the deadline, plus slack for a loaded machine
    assert_sentence(info.value, "The --chat-template file")


def test_the_bound_holds_off_the_main_thread() -> None:
    """The app renders in a worker thread: no signals, the deadline and the caps still apply."""
    errors: list[BaseException] = []

    def work() -> None:
        for source in (NESTED_LOOPS, DOUBLE_40, RECURSIVE_MACRO):
            try:
                render(source)
            except TemplateRefused as exc:
                errors.append(exc)

    thread = threading.Thread(target=work)
    start = time.monotonic()
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(errors) == 3 and time.monotonic() - start < RENDER_SECONDS + 10


def test_other_failures_are_one_sentence() -> None:
    for source in ("{{ 1 / 0 }}", "{{ messages[5].content }}", "{{ 1e308 ** 10 }}", "{{ raise_exception('x\ny' * 500) }}"):
        with pytest.raises(Exception) as info:
            render(source)
        assert "\n" not in str(info.value) and len(str(info.value)) < 500


def test_real_templates_render_as_before(smollm2_path: Path) -> None:
    """The bounded sandbox renders exactly what Jinja's plain immutable sandbox renders."""
    from bench.template_render import LLAMA3_STYLE, conversation, plain_render
    from models.gguf_file import read_gguf

    smol = read_gguf(smollm2_path, vocab=False).chat_template or ""
    messages = conversation(30)
    for source in (smol, LLAMA3_STYLE):
        tpl = ChatTemplate(source, "gguf", "<s>", "</s>", context_tokens=2048)
        assert tpl.render(messages) == plain_render(source)(messages)
    segments = ChatTemplate(smol, "gguf").render_segments(messages)
    assert "".join(s if isinstance(s, str) else messages[s].content for s in segments) == plain_render(smol)(messages)


def test_long_conversations_fit_the_cap() -> None:
    """The cap grows with the conversation's own text (the whole history renders before trimming)."""
    big = [Message("user", "word " * 40_000), Message("assistant", "ok " * 40_000), Message("user", "q")]
    out = ChatTemplate(SMALL_CHATML, "gguf", context_tokens=256).render(big)
    assert len(out) > 300_000


SMALL_CHATML = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


# -- the real CLI, under a memory limit ---------------------------------------------------------

@pytest.mark.parametrize("name,source,words", [
    ("double", DOUBLE_40, "tried to build more than"),
    ("loops", NESTED_LOOPS, "took more than 2 s"),
    ("recursion", RECURSIVE_MACRO, "nests calls deeper"),
])
def test_cli_ask_with_a_hostile_template(tmp_path: Path, name: str, source: str, words: str) -> None:
    evil = tmp_path / f"{name}.jinja"
    evil.write_text(source)
    result = run_bounded("ask", "--chat-template", str(evil), "hi")
    result.assert_one_line_error()
    assert words in result.stderr and "--chat-template file" in result.stderr


def test_cli_ask_refuses_20_mb_of_stdin_before_tokenizing(tmp_path: Path) -> None:
    piped = tmp_path / "big.txt"
    piped.write_bytes(b"a" * 20_000_000)
    result = run_bounded("ask", "summarise", stdin_path=str(piped))
    result.assert_one_line_error()
    assert "too long for the context" in result.stderr
    # the refusal itself is the feature: well under the 2 s of work beyond loading the model
    assert result.cpu_s < 6, result.cpu_s


def test_cli_ask_refuses_stdin_beyond_any_context(tmp_path: Path) -> None:
    piped = tmp_path / "huge.txt"
    with piped.open("wb") as fh:
        fh.truncate(40 << 20)  # sparse: 40 MB of NUL characters, valid UTF-8
    result = run_bounded("ask", "summarise", stdin_path=str(piped))
    result.assert_one_line_error()
    assert "longer than 32 MB" in result.stderr

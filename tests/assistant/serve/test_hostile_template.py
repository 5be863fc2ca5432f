"""A model whose chat template is hostile, behind the server: POST /v1/chat/completions and /api/chat
(streamed or not) answer 400 whose error message is the template's one sentence, and the server answers
the next request. On the real `assistant serve --chat-template evil.jinja` and the bundled model, and on
the scripted engine with a GGUF's template (the real ChatTemplate renders it) for each kind of breach."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from assistant.engine.base import Chunk, GenerationParams, LoadOptions, Message, ModelInfo
from assistant.engine.template import ChatTemplate, TemplateRefused
from tests.assistant.engine.test_untrusted_templates import DOUBLE_40, NESTED_LOOPS, RECURSIVE_MACRO
from tests.assistant.serve.conftest import MODEL, ScriptEngine, serving

USER = [{"role": "user", "content": "hi"}]
HOSTILE = {"size": (DOUBLE_40, "tried to build more than"), "time": (NESTED_LOOPS, "took more than 2 s"),
           "depth": (RECURSIVE_MACRO, "nests calls deeper")}
# (path, streamed): the Ollama routes stream unless told not to
CHATS = [("/v1/chat/completions", False), ("/v1/chat/completions", True), ("/api/chat", False), ("/api/chat", True)]


def sentence(source: str, origin: str, model_file: str, context_tokens: int) -> str:
    with pytest.raises(TemplateRefused) as info:
        ChatTemplate(source, origin, model_file=model_file, context_tokens=context_tokens).render(
            [Message(m["role"], m["content"]) for m in USER])
    return str(info.value)


def assert_refused(url: str, path: str, stream: bool, expected: str) -> None:
    r = httpx.post(url + path, json={"model": MODEL, "messages": USER, "stream": stream}, timeout=60)
    assert r.status_code == 400, r.text
    body = r.json()
    message = body["error"] if path.startswith("/api/") else body["error"]["message"]
    assert message == expected


class TemplatedEngine(ScriptEngine):
    """The scripted engine with a GGUF's chat template, built at load and rendered for each prompt, as
    the llama engine does (count_tokens, then stream)."""

    source = ""
    raw = False  # a raw prompt (/v1/completions, Ollama's raw mode) uses no chat template

    def load(self, model: str | None, options: LoadOptions | None = None) -> ModelInfo:
        info = super().load(model, options)
        self.template = ChatTemplate(self.source, "gguf", model_file="evil.gguf", context_tokens=self.n_ctx)
        return info

    def count_tokens(self, messages: Sequence[Message]) -> int:
        if not self.raw:
            self.template.render(messages)
        return super().count_tokens(messages)

    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None) -> Iterator[Chunk]:
        self.template.render(messages)
        yield from super().stream(messages, params)

    def complete(self, prompt: str, params: GenerationParams | None = None) -> Iterator[Chunk]:
        self.raw = True
        try:
            yield from ScriptEngine.stream(self, [Message("user", prompt)], params)
        finally:
            self.raw = False


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_each_breach_is_a_400_with_the_sentence_and_the_server_goes_on(kind: str) -> None:
    source, words = HOSTILE[kind]
    engine = TemplatedEngine()
    engine.source = source
    expected = sentence(source, "gguf", "evil.gguf", engine.n_ctx)
    assert expected.startswith("The chat template inside evil.gguf ") and words in expected
    with serving(engine) as (url, state):
        for path, stream in (CHATS if kind != "time" else CHATS[:1] + CHATS[-1:]):  # 2 s a render
            assert_refused(url, path, stream, expected)
        # the next request is answered: the worker is free, the engine still loaded
        r = httpx.post(url + "/v1/completions", json={"model": MODEL, "prompt": "one two", "max_tokens": 4})
        assert r.status_code == 200 and r.json()["choices"][0]["text"], r.text
        assert httpx.get(url + "/health").status_code == 200
        assert engine.loads == [MODEL] and not state.worker.busy


def test_serve_with_a_hostile_chat_template_file(tmp_path: Path) -> None:
    """The real `assistant serve --chat-template evil.jinja` on the bundled model."""
    evil = tmp_path / "evil.jinja"
    evil.write_text(DOUBLE_40)
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", "0", "--threads", "1",
                             "--ctx-size", "512", "--chat-template", str(evil)], stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        m = re.match(r"Serving (\S+) at (http://127\.0\.0\.1:\d+) ", first)
        assert m, first
        url = m.group(2)
        proc.stderr.readline()
        proc.stderr.readline()  # the two lines of hints
        expected = sentence(DOUBLE_40, "override", "", 512)
        assert expected.startswith("The --chat-template file tried to build more than") and "512-token" in expected
        for path, stream in CHATS:
            assert_refused(url, path, stream, expected)
            log = proc.stderr.readline()
            assert log.startswith(f"POST {path} ") and " 400 " in log, log
        # the next request is answered by the model (a raw completion uses no chat template)
        r = httpx.post(url + "/v1/completions", json={"model": MODEL, "prompt": "The capital of France is",
                                                      "max_tokens": 4, "temperature": 0}, timeout=60)
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] > 0, r.text
        assert_refused(url, *CHATS[0], expected)  # and the template is still refused, the same way
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        rest = proc.stderr.read()
        assert "Traceback" not in rest and rest.strip().endswith("Stopped."), rest[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


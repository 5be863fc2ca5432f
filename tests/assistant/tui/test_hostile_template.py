"""A hostile chat template in the app: the render (in the reply worker, off the main thread) is bounded,
the breach is one notification with the template's sentence, the typed prompt goes back into the input
and the app goes on. The renders are the real ``ChatTemplate``'s, on a scripted engine and on the real
engine with ``--chat-template``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from assistant.engine.base import Chunk, GenerationParams, LoadOptions, Message, ModelInfo
from assistant.engine.fake import FakeEngine
from assistant.engine.template import ChatTemplate, TemplateRefused
from assistant.tui.launch import make_factory
from assistant.tui.widgets.chat_log import ChatLog
from models.errors import AssistantError
from tests.assistant.engine.test_untrusted_templates import DOUBLE_40, NESTED_LOOPS, RECURSIVE_MACRO
from tests.assistant.tui.conftest import Engines, notes, ready, send, wait_for

pytestmark = pytest.mark.asyncio

HOSTILE = {"size": (DOUBLE_40, "tried to build more than"), "time": (NESTED_LOOPS, "took more than 2 s"),
           "depth": (RECURSIVE_MACRO, "nests calls deeper")}


class TemplatedEngine(FakeEngine):
    """The FakeEngine with a chat template, as the llama engine has: the real ChatTemplate, built at load
    (where a template that cannot be used is refused) and rendered before each reply (in the app's
    reply worker)."""

    source: ClassVar[str] = ""
    model_file: ClassVar[str] = "evil.gguf"

    def load(self, model: str | None, options: LoadOptions | None = None) -> ModelInfo:
        info = super().load(model, options)
        self.template = ChatTemplate(self.source, "gguf", model_file=self.model_file, context_tokens=self.n_ctx)
        return info

    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None) -> Iterator[Chunk]:
        self.template.render(messages)
        yield from super().stream(messages, params)


def evil(source: str, model_file: str = "evil.gguf") -> Engines:
    return Engines(engine_class=type("Evil", (TemplatedEngine,), {"source": source, "model_file": model_file}))


def sentence(source: str, messages: Sequence[Message], origin: str = "gguf", model_file: str = "evil.gguf",
             context_tokens: int = 2048) -> str:
    """What the template itself says about these messages."""
    with pytest.raises(TemplateRefused) as info:
        ChatTemplate(source, origin, model_file=model_file, context_tokens=context_tokens).render(messages)
    return str(info.value)


async def settle(pilot: Any) -> None:
    """The reply is over: a time breach takes its 2 s, and a loaded machine more; the limit only keeps a
    broken test from hanging."""
    await wait_for(pilot, lambda: pilot.app.job is None, timeout=60, what="the reply to fail")
    await pilot.pause()


def shown(app: Any) -> list[str]:
    """The toasts on screen, as text (run_test(notifications=True) renders them)."""
    from textual.widgets._toast import Toast

    return [t.render().plain for t in app.screen.query(Toast)]


def assert_refused_and_kept(app: Any, history: Any, expected: str, prompt: str) -> None:
    assert expected in notes(app), notes(app)
    assert [n for n in app._notifications if n.message == expected][0].severity == "error"
    assert f"Error\n{expected}" in shown(app)  # drawn as it is: a [bracket] in it is text, not markup
    assert app.query_one("#prompt").text == prompt  # the typed input is kept
    assert app.query_one(ChatLog).messages() == []  # nothing half-sent on screen
    assert history.list_conversations() == []  # nor in the history
    assert app.status.state == "idle"


@pytest.mark.parametrize("kind", sorted(HOSTILE))
async def test_a_hostile_gguf_template_is_a_notification_and_keeps_the_input(make_app, history, kind: str) -> None:
    source, words = HOSTILE[kind]
    app = make_app(evil(source))
    prompt = "what is the capital of France?"
    expected = sentence(source, [Message("user", prompt)])
    assert expected.startswith("The chat template inside evil.gguf ") and words in expected
    assert expected.endswith("pass a working one with --chat-template FILE.")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await ready(pilot)
        await send(pilot, prompt)
        await settle(pilot)
        assert_refused_and_kept(app, history, expected, prompt)
        await pilot.press("enter")  # the app goes on: the same prompt, the same sentence, once more
        await settle(pilot)
        assert notes(app).count(expected) == 2 and app.query_one("#prompt").text == prompt


@pytest.mark.parametrize("source, model_file", [
    pytest.param(RECURSIVE_MACRO, "evil[/x].gguf", id="breach-naming-a-file-with-markup"),
    pytest.param("{{ raise_exception('[/INST] [b]roles must alternate') }}", "evil.gguf", id="raise-exception-markup"),
])
async def test_brackets_in_the_sentence_are_shown_not_parsed(make_app, history, source: str, model_file: str) -> None:
    """Textual parses a notification as markup by default: '[/x]' raised MarkupError and took the app down."""
    app = make_app(evil(source, model_file))
    prompt = "hi"
    with pytest.raises(AssistantError) as info:
        ChatTemplate(source, "gguf", model_file=model_file).render([Message("user", prompt)])
    expected = str(info.value)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await ready(pilot)
        await send(pilot, prompt)
        await settle(pilot)
        await pilot.pause()
        assert_refused_and_kept(app, history, expected, prompt)


async def test_a_template_refused_at_load_is_a_notification(make_app) -> None:
    """A template that cannot even be parsed within the bounds fails the load: one notification, and
    a message typed meanwhile stays in the input."""
    source = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    app = make_app(evil(source, "evil[/x].gguf"))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.host.error is not None, what="the load to fail")
        await pilot.pause()
        expected = app.host.error
        assert expected == ("The chat template inside evil[/x].gguf nests too deeply to parse; "
                            "pass a working one with --chat-template FILE.")
        assert expected in notes(app) and f"Model failed to load\n{expected}" in shown(app)
        assert app.status.state == "no model"
        await send(pilot, "hello?")
        await settle(pilot)
        assert app.query_one("#prompt").text == "hello?"
        assert notes(app).count(expected) == 2


async def test_the_real_engine_with_a_hostile_chat_template_file(make_app, history, tmp_path: Path) -> None:
    """`assistant chat --chat-template evil.jinja` on the bundled model: the same, through the real engine."""
    from assistant.session.config import ChatOptions, session_config

    evil = tmp_path / "evil.jinja"
    evil.write_text(DOUBLE_40)
    cfg = session_config(ChatOptions(chat_template_file=evil, ctx_size=512, threads=1, max_tokens=4))
    app = make_app(make_factory(cfg), model=cfg.model.name, params=cfg.params)
    prompt = "hello there"
    expected = sentence(DOUBLE_40, [Message("user", prompt)], "override", cfg.model.path.name, 512)
    assert expected.startswith("The --chat-template file tried to build more than")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await ready(pilot)
        await send(pilot, prompt)
        await settle(pilot)
        assert_refused_and_kept(app, history, expected, prompt)
    app.host.close()

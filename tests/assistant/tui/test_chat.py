"""Pilot tests of the chat itself on the FakeEngine: send and stream, stop, regenerate and branches,
edit, errors, the context-drop notice, autoscroll and the input keys."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from assistant.engine.base import Chunk, GenerationParams, Message
from assistant.engine.fake import FakeEngine, ScriptedReply
from assistant.tui.widgets.chat_log import ChatLog
from assistant.tui.widgets.message import MessageView
from tests.assistant.tui.conftest import Engines, idle, notes, ready, send, wait_for

pytestmark = pytest.mark.asyncio

LONG = " ".join(f"w{i}" for i in range(400))


def views(app) -> list[MessageView]:  # type: ignore[no-untyped-def]
    return app.query_one(ChatLog).messages()


async def test_send_streams_saves_and_clears_the_input(make_app, history) -> None:
    engines = Engines(["Hello **there**, here is code:\n\n```python\nprint('hi')\n```"], delay=0.1)
    app = make_app(engines)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await send(pilot, "hi there")
        assert app.query_one("#prompt").text == ""
        reply = views(app)[-1]
        await wait_for(pilot, lambda: len(reply.content) > 0 and app.job is not None, what="part of the reply")
        assert app.status.state == "generating"
        await idle(pilot)
        assert app.status.state == "idle"
        thread = app.session.thread()
        assert [(m.role, m.content) for m in thread] == [
            ("user", "hi there"), ("assistant", "Hello **there**, here is code:\n\n```python\nprint('hi')\n```")]
        assert reply.record.id == thread[-1].id and reply.content == thread[-1].content
        assert app.status.context_used > 0 and app.status.tokens_per_second > 0
        assert history.get_conversation(thread[0].conversation_id).title == "hi there"
        assert app.query_one("#title").render().plain == "hi there"  # type: ignore[attr-defined]
        # the code block is a highlighted fence inside the rendered Markdown
        assert reply.body.query("MarkdownFence")


async def test_input_keys_newline_and_recall(make_app) -> None:
    app = make_app(Engines(["ok"]))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("a", "ctrl+j", "b", "shift+enter", "c")
        prompt = app.query_one("#prompt")
        assert prompt.text == "a\nb\nc"
        await pilot.press("enter")
        await idle(pilot)
        assert app.session.thread()[0].content == "a\nb\nc"
        assert prompt.text == ""
        await pilot.press("up")
        assert prompt.text == "a\nb\nc"


async def test_stop_keeps_and_marks_the_partial_reply(make_app, history) -> None:
    app = make_app(Engines([LONG], delay=0.01))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await send(pilot, "go")
        reply = views(app)[-1]
        await wait_for(pilot, lambda: len(reply.content) > 20, what="some text")
        await pilot.press("escape")
        await idle(pilot)
        saved = app.session.thread()[-1]
        assert saved.finish_reason == "cancelled" and not saved.interrupted
        assert 0 < len(saved.content) < len(LONG)
        assert reply.content == saved.content
        assert "stopped" in reply.header_text()


async def test_regenerate_makes_a_branch_and_keys_step_between(make_app) -> None:
    app = make_app(Engines(["first answer", "second answer"]))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await send(pilot, "question")
        await idle(pilot)
        await pilot.press("ctrl+r")
        await idle(pilot)
        assert [v.content for v in views(app)] == ["question", "second answer"]
        assert views(app)[-1].branch == (2, 2) and "2/2" in views(app)[-1].header_text()
        await pilot.press("alt+left")
        await pilot.pause()
        assert [v.content for v in views(app)] == ["question", "first answer"]
        assert views(app)[-1].branch == (1, 2)
        assert app.session.thread()[-1].content == "first answer"
        await pilot.press("alt+right")
        await pilot.pause()
        assert views(app)[-1].content == "second answer"


async def test_edit_an_earlier_prompt_branches_from_there(make_app) -> None:
    app = make_app(Engines(["a1", "a2", "edited answer"]))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await send(pilot, "q1")
        await idle(pilot)
        await send(pilot, "q2")
        await idle(pilot)
        await pilot.press("ctrl+up")  # the last message
        for _ in range(3):
            await pilot.press("up")  # up to the first prompt
        assert app.focused is views(app)[0]
        await pilot.press("e")
        area = app.screen.query_one("#edit-text")
        assert area.text == "q1"
        area.load_text("q1 edited")
        await pilot.press("ctrl+s")
        await idle(pilot)
        assert [v.content for v in views(app)] == ["q1 edited", "edited answer"]
        assert views(app)[0].branch == (2, 2)
        engine = app.host.inner
        assert [m.content for m in engine.calls[-1][0]] == ["q1 edited"]  # the old turns are not in its context
        views(app)[0].focus()
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert [v.content for v in views(app)] == ["q1", "a1", "q2", "a2"]


async def test_generation_error_is_a_notification_and_keeps_the_input(make_app, history) -> None:
    app = make_app(Engines([ScriptedReply("", error="The model ran out of memory; try a smaller --ctx-size.")]))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await send(pilot, "my long question")
        await idle(pilot)
        assert "The model ran out of memory; try a smaller --ctx-size." in notes(app)
        assert app.query_one("#prompt").text == "my long question"
        assert views(app) == []
        assert history.list_conversations() == []  # nothing half-sent stays in the history
        await pilot.press("enter")  # sending again works (the fake now echoes)
        await idle(pilot)
        assert [v.content for v in views(app)] == ["my long question", "You said: my long question"]


async def test_model_load_failure_is_a_notification(make_app) -> None:
    app = make_app(Engines(load_error="The file x.gguf is damaged; download it again."))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.host.error is not None, what="the load to fail")
        await pilot.pause()
        assert "The file x.gguf is damaged; download it again." in notes(app)
        assert app.status.state == "no model"
        await send(pilot, "hello?")
        await idle(pilot)
        assert app.query_one("#prompt").text == "hello?"
        assert notes(app).count("The file x.gguf is damaged; download it again.") == 2


class DroppingEngine(FakeEngine):
    """Reports that older turns were dropped, as the llama engine does near a full context."""

    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None) -> Iterator[Chunk]:
        for chunk in super().stream(messages, params):
            if chunk.stats is not None:
                chunk.stats.dropped_turns = 2
            yield chunk


async def test_context_drop_notice(make_app) -> None:
    app = make_app(Engines(["fine"], engine_class=DroppingEngine))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await send(pilot, "one more")
        await idle(pilot)
        notice = app.query_one(".notice")
        assert "2 older turns left out to fit" in str(notice.render())
        assert any("2 older turns" in n for n in notes(app))


async def test_autoscroll_only_while_at_the_bottom(make_app) -> None:
    text = "\n\n".join(f"paragraph {i} " + "word " * 6 for i in range(80))
    app = make_app(Engines([text, text], delay=0.01))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await send(pilot, "write a lot")
        log = app.query_one(ChatLog)
        await wait_for(pilot, lambda: log.max_scroll_y > 20, what="the reply to overflow")
        assert log.scroll_y == log.max_scroll_y or log.scroll_y >= log.max_scroll_y - 2  # following
        await pilot.press("shift+pageup", "shift+pageup")  # the person scrolls up to read
        await pilot.pause(0.05)
        held = log.scroll_y
        assert held < log.max_scroll_y - 2
        await pilot.pause(0.2)
        assert app.job is not None
        assert log.scroll_y == held  # not pulled down while text keeps coming
        await pilot.press("escape")
        await idle(pilot)
        assert log.scroll_y == held
        await pilot.press("ctrl+r")  # a new reply follows again from the bottom
        await wait_for(pilot, lambda: app.job is not None and len(views(app)[-1].content) > 200)
        await pilot.pause(0.1)
        assert log.scroll_y >= log.max_scroll_y - 2
        await pilot.press("escape")
        await idle(pilot)


async def test_quit_during_a_reply_saves_it_stopped(make_app, history) -> None:
    app = make_app(Engines([LONG], delay=0.01))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await send(pilot, "go")
        await wait_for(pilot, lambda: len(views(app)[-1].content) > 10)
        await pilot.press("ctrl+q")
        await pilot.pause()
    conv = history.last_conversation()
    reply = history.thread(conv.id)[-1]
    assert reply.role == "assistant" and reply.finish_reason == "cancelled" and reply.content

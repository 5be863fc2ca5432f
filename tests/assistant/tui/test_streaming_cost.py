"""What keeps a streamed paint cheap (assistant/tui/reply.py, widgets/message_body.py) without
changing what the person sees: the pacing of paints, the single layout pass, the last block's
margin without order-dependent CSS, the steady cursor and the live tokens/s while a reply streams."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.engine.fake import FakeEngine
from assistant.tui.reply import (
    FIRST_INTERVAL,
    MAX_INTERVAL,
    MIN_INTERVAL,
    SPARE_CORE_SHARE,
    UI_SHARE,
    PaintPacer,
    ui_share,
)
from assistant.tui.widgets.chat_log import ChatLog
from assistant.tui.widgets.message import MessageView
from assistant.tui.widgets.message_body import LAST_BLOCK, MessageBody
from tests.assistant.tui.conftest import Engines, idle, ready, send, wait_for

STORY = "\n\n".join(
    [f"Paragraph {i}: " + " ".join(f"word{j}" for j in range(30)) for i in range(6)]
    + ["- a list item\n- another item", "```python\nprint('done')\n```", "The end."]
)


def pace(pacer: PaintPacer, paint_cost: float, paints: int) -> list[float]:
    """Paints that each cost the UI thread ``paint_cost`` seconds, spaced as the pacer asks."""
    cpu = wall = 0.0
    intervals = []
    for _ in range(paints):
        cpu += paint_cost
        wall += pacer.interval
        intervals.append(pacer.painted(cpu, wall))
    return intervals


def test_pacer_spaces_paints_to_keep_the_ui_share() -> None:
    pacer = PaintPacer(share=0.03)
    assert pacer.interval == FIRST_INTERVAL
    intervals = pace(pacer, paint_cost=0.012, paints=30)
    # 12 ms a paint at 3% of the time: a paint every 0.4 s, reached without overshooting
    assert intervals[-1] == pytest.approx(0.4, rel=0.02)
    assert all(MIN_INTERVAL <= i <= 0.4 + 1e-9 for i in intervals)


def test_pacer_stays_within_its_bounds() -> None:
    cheap = pace(PaintPacer(share=0.03), paint_cost=0.0001, paints=30)
    dear = pace(PaintPacer(share=0.03), paint_cost=0.2, paints=30)
    assert cheap[-1] == MIN_INTERVAL
    assert dear[-1] == MAX_INTERVAL


def test_the_ui_may_take_more_where_llama_cpp_leaves_a_core_free() -> None:
    info = FakeEngine().load(None)
    assert ui_share(None) == UI_SHARE
    assert ui_share(info) == UI_SHARE  # every core computes (or nobody says otherwise)
    info.spare_cores = 1  # e.g. --threads 1 on 2 cores, or a GPU backend
    assert ui_share(info) == SPARE_CORE_SHARE > UI_SHARE


def test_the_stylesheet_has_no_order_dependent_rules() -> None:
    """Such a rule makes Textual restyle every block of a message each time one is mounted."""
    css = Path("assistant/tui/chat.tcss").read_text()
    assert not re.search(r":(first|last)-(child|of-type)|:(odd|even)|:empty", css)


@pytest.mark.asyncio
async def test_a_streamed_reply_is_laid_out_as_the_same_text_shown_at_once(make_app) -> None:
    app = make_app(Engines([STORY], delay=0.01))
    async with app.run_test(size=(90, 30)) as pilot:
        await ready(pilot)
        await send(pilot, "tell me")
        log = app.query_one(ChatLog)
        await wait_for(pilot, lambda: app.job is not None and "Paragraph 3" in log.messages()[-1].content)
        streaming = log.messages()[-1]
        assert streaming.streaming and streaming.body.streaming
        await idle(pilot)
        streamed = log.messages()[-1]
        static = MessageView("assistant", STORY, label=streamed.label)
        await log.mount(static)
        await pilot.pause()
        # one layout pass per change: every size still ends up right, as a view composed at once
        assert streamed.region.height == static.region.height > 20
        assert [b.region.height for b in streamed.body.children] == [b.region.height for b in static.body.children]
        for view in (streamed, static):
            tagged = [b for b in view.body.children if b.has_class(LAST_BLOCK)]
            assert tagged == [view.body.children[-1]]  # the margin rule's target, and only it
        assert log.scroll_y == log.max_scroll_y


@pytest.mark.asyncio
async def test_a_body_tags_only_its_last_block_across_updates(make_app) -> None:
    app = make_app(Engines([]))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        body = MessageBody("one\n\ntwo")
        await app.query_one(ChatLog).mount(body)
        await pilot.pause()
        assert [b.has_class(LAST_BLOCK) for b in body.children] == [False, True]
        await body.update("alpha\n\nbeta\n\ngamma")
        await pilot.pause()
        assert [b.has_class(LAST_BLOCK) for b in body.children] == [False, False, True]


@pytest.mark.asyncio
async def test_while_a_reply_streams_the_cursor_is_steady_and_the_rate_live(make_app) -> None:
    words = " ".join(f"w{i}" for i in range(150))
    app = make_app(Engines([words], delay=0.01))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        prompt = app.query_one("#prompt")
        assert prompt.cursor_blink
        await send(pilot, "go")
        await wait_for(pilot, lambda: app.job is not None)
        assert not prompt.cursor_blink
        await wait_for(pilot, lambda: app.status.tokens_per_second > 0, timeout=5, what="a live tokens/s")
        assert app.job is not None  # shown while the reply still streams
        await idle(pilot)
        assert prompt.cursor_blink
        assert app.status.state == "idle"

"""ChatSession on the FakeEngine: turns are saved, branches, cancel, errors, params."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from assistant.engine.base import Chunk, GenerationParams, Message, Stats, collect
from assistant.engine.fake import FakeEngine, ScriptedReply
from assistant.history.store import History
from assistant.session.chat import ChatSession, make_title, parse_param
from models.errors import AssistantError


@pytest.fixture
def history() -> Iterator[History]:
    h = History()
    yield h
    h.close()


def make(history: History, *replies: str | ScriptedReply, delay: float = 0.0, **kw: object) -> ChatSession:
    engine = FakeEngine(replies, delay=delay)
    engine.load("fake")
    return ChatSession(engine, history, model="fake", params=GenerationParams(), **kw)  # type: ignore[arg-type]


def test_send_saves_both_messages_and_feeds_the_thread_back(history: History) -> None:
    s = make(history, "Paris.", "About 2 million.", system="Answer briefly.")
    text, last = collect(s.send("What is the capital of France?"))
    assert (text, last.finish_reason) == ("Paris.", "eot")
    text, _ = collect(s.send("How many people live there?"))
    assert text == "About 2 million."
    engine = s.engine
    assert isinstance(engine, FakeEngine)
    sent = engine.calls[-1][0]
    assert [(m.role, m.content) for m in sent] == [
        ("system", "Answer briefly."), ("user", "What is the capital of France?"), ("assistant", "Paris."),
        ("user", "How many people live there?"),
    ]
    conv = s.conversation
    assert conv is not None and conv.title == "What is the capital of France?" and conv.system == "Answer briefly."
    saved = history.thread(conv.id)
    assert [(m.role, m.content, m.interrupted) for m in saved] == [
        ("user", "What is the capital of France?", False), ("assistant", "Paris.", False),
        ("user", "How many people live there?", False), ("assistant", "About 2 million.", False),
    ]
    assert saved[1].finish_reason == "eot" and saved[1].stats["completion_tokens"] == 1
    assert saved[1].model == "fake" and [m.id for m in s.thread()] == [m.id for m in saved]


def test_retry_makes_a_sibling_and_edit_a_branch(history: History) -> None:
    s = make(history, "first", "second", "third")
    collect(s.send("q"))
    first_reply = s.leaf_id
    assert first_reply is not None
    text, _ = collect(s.retry())
    assert text == "second"
    assert [m.content for m in history.siblings(first_reply)] == ["first", "second"]
    assert [m.content for m in s.thread()] == ["q", "second"]
    s.select_sibling(s.leaf_id, -1)  # type: ignore[arg-type]
    assert [m.content for m in s.thread()] == ["q", "first"]
    s.select_sibling(first_reply, -5)  # clamps at the first branch
    assert [m.content for m in s.thread()] == ["q", "first"]
    user_id = s.thread()[0].id
    text, _ = collect(s.edit(user_id, "q, better"))
    assert text == "third"
    assert [m.content for m in s.thread()] == ["q, better", "third"]
    s.select_sibling(user_id, 0)  # back to the first prompt: its newest reply follows
    assert [m.content for m in s.thread()] == ["q", "second"]
    reopened = make(history, conversation_id=s.conversation.id)  # type: ignore[union-attr]
    assert [m.content for m in reopened.thread()] == ["q", "second"]  # the selected branch is remembered


def test_retry_and_edit_need_a_conversation(history: History) -> None:
    s = make(history)
    with pytest.raises(AssistantError, match="no reply to retry"):
        collect(s.retry())
    with pytest.raises(AssistantError, match="no conversation to edit"):
        collect(s.edit(1, "x"))
    with pytest.raises(AssistantError, match="empty"):
        collect(s.send("   "))
    collect(s.send("hi"))
    with pytest.raises(AssistantError, match="not a prompt"):
        collect(s.edit(s.leaf_id, "x"))  # type: ignore[arg-type]


def test_cancel_saves_the_partial_reply_as_cancelled(history: History) -> None:
    s = make(history, "one two three four five six seven eight")
    seen = []
    for chunk in s.send("count"):
        seen.append(chunk)
        if len(seen) == 3:
            s.cancel()
    assert seen[-1].finish_reason == "cancelled"
    reply = s.thread()[-1]
    assert (reply.content, reply.finish_reason, reply.interrupted) == ("one two three", "cancelled", False)


def test_closing_the_stream_counts_as_stopped(history: History) -> None:
    s = make(history, "one two three four")
    stream = s.send("count")
    next(stream)
    next(stream)
    stream.close()  # what a consumer does on Ctrl+C or when the app quits mid-reply
    reply = s.thread()[-1]
    assert (reply.content, reply.finish_reason, reply.interrupted) == ("one two", "cancelled", False)


def test_reply_is_saved_as_it_grows(history: History) -> None:
    s = make(history, "a b c d e f g h", delay=0.02, save_interval=0.03)
    other = History(history.path)  # another connection, as another process would see it
    stream = s.send("go")
    contents = []
    for chunk in stream:
        if chunk.finish_reason is None:
            current = other.thread(s.conversation.id)[-1]  # type: ignore[union-attr]
            contents.append((current.content, current.interrupted))
    grown = [c for c, interrupted in contents if c and interrupted]
    assert grown, contents  # partial text was visible while the reply was still running
    assert all("a b c d e f g h".startswith(c) for c in grown)
    assert other.thread(s.conversation.id)[-1].interrupted is False  # type: ignore[union-attr]
    other.close()


def test_engine_error_before_any_text_leaves_no_empty_reply(history: History) -> None:
    s = make(history, ScriptedReply("", error="The model fell over; restart it."), "fine")
    with pytest.raises(AssistantError, match="fell over"):
        collect(s.send("hello"))
    assert [m.role for m in s.thread()] == ["user"]
    text, _ = collect(s.retry())  # retrying the prompt that got no answer
    assert text == "fine" and [m.content for m in s.thread()] == ["hello", "fine"]


class BrokenMidway(FakeEngine):
    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None) -> Iterator[Chunk]:
        yield Chunk("half")
        raise AssistantError("The engine lost its context.")


def test_engine_error_mid_reply_keeps_the_text_marked_interrupted(history: History) -> None:
    s = ChatSession(BrokenMidway(), history, model="fake", params=GenerationParams())
    with pytest.raises(AssistantError, match="lost its context"):
        collect(s.send("hello"))
    reply = s.thread()[-1]
    assert (reply.content, reply.interrupted, reply.finish_reason) == ("half", True, None)


class Dropping(FakeEngine):
    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None) -> Iterator[Chunk]:
        yield Chunk("ok")
        yield Chunk("", finish_reason="eot", stats=Stats(dropped_turns=2))


def test_dropped_turns_are_reported(history: History) -> None:
    s = ChatSession(Dropping(), history, model="fake", params=GenerationParams())
    collect(s.send("hello"))
    assert s.last_dropped_turns == 2 and s.thread()[-1].stats["dropped_turns"] == 2


def test_params_and_system_persist_with_the_conversation(history: History) -> None:
    s = make(history, "x", "y")
    s.set_param("temperature", "0.2")
    s.set_param("max-tokens", "64")
    s.set_system("Be terse.")
    collect(s.send("hi"))
    engine = s.engine
    assert isinstance(engine, FakeEngine)
    assert engine.calls[-1][1].temperature == 0.2 and engine.calls[-1][1].max_tokens == 64
    s.set_param("top_k", "7")
    conv = history.get_conversation(s.conversation.id)  # type: ignore[union-attr]
    assert conv.system == "Be terse." and conv.params["top_k"] == 7 and conv.params["temperature"] == 0.2
    fresh = make(history)
    fresh.open(conv.id)
    assert fresh.system == "Be terse." and fresh.params.top_k == 7 and fresh.params.max_tokens == 64
    s.set_param("max_tokens", "none")
    s.set_system(None)
    conv = history.get_conversation(conv.id)
    assert conv.system is None and conv.params["max_tokens"] is None
    s.new_conversation()
    collect(s.send("again"))
    assert s.conversation.id != conv.id and s.thread()[0].parent_id is None  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "value", "error"), [
    ("warmth", "1", "Unknown parameter 'warmth'"),
    ("temperature", "hot", "temperature needs a number"),
    ("top_k", "2.5", "top_k needs a whole number"),
    ("top_p", "1.5", "top_p must be between 0.0 and 1.0"),
    ("max_tokens", "0", "max_tokens must be at least 1"),
])
def test_bad_params_are_one_sentence(name: str, value: str, error: str) -> None:
    with pytest.raises(AssistantError, match=error):
        parse_param(name, value)


def test_parse_param_values() -> None:
    assert parse_param("Top-P", "0.5") == ("top_p", 0.5)
    assert parse_param("seed", "off") == ("seed", None)
    assert parse_param("top_k", "0") == ("top_k", 0)


def test_switch_model_and_titles(history: History) -> None:
    s = make(history, "a")
    collect(s.send("x" * 100))
    assert len(s.conversation.title) == 60 and s.conversation.title.endswith("…")  # type: ignore[union-attr]
    other = FakeEngine(["from b"])
    s.switch_model(other, "model-b")
    text, _ = collect(s.send("and you?"))
    assert text == "from b" and s.thread()[-1].model == "model-b"
    assert history.get_conversation(s.conversation.id).model == "model-b"  # type: ignore[union-attr]
    assert make_title("  many\n  spaces  ") == "many spaces"

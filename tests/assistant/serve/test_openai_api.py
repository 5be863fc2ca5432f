"""The OpenAI routes, driven by the real `openai` package, over the scripted engine."""

from __future__ import annotations

import openai
import pytest

from assistant.engine.fake import ScriptedReply
from assistant.history.store import History
from assistant.serve.run import HistoryWriter
from tests.assistant.serve.conftest import MODEL, ScriptEngine, serving


def client(url: str, **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30, **kw)  # type: ignore[arg-type]


def test_models_lists_every_name_that_resolves(server: str) -> None:
    ids = [m.id for m in client(server).models.list()]
    assert MODEL in ids and "gemma3-270m" in ids
    assert client(server).models.retrieve(MODEL).id == MODEL


def test_chat_non_streaming(engine: ScriptEngine, server: str) -> None:
    engine.queue("Paris is the capital.")
    r = client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}],
        temperature=0.2, top_p=0.9, seed=7, stop=["\n\n"], max_tokens=50)
    assert r.object == "chat.completion" and r.model == MODEL
    assert r.choices[0].message.role == "assistant" and r.choices[0].message.content == "Paris is the capital."
    assert r.choices[0].finish_reason == "stop"  # our eot
    assert r.usage is not None and r.usage.completion_tokens == 4
    assert r.usage.total_tokens == r.usage.prompt_tokens + 4
    assert r.usage.prompt_tokens_details is not None and r.usage.prompt_tokens_details.cached_tokens == 0
    messages, params = engine.calls[-1]
    assert [(m.role, m.content) for m in messages] == [("system", "Be brief."), ("user", "Capital of France?")]
    assert (params.temperature, params.top_p, params.seed, params.stop, params.max_tokens) == (0.2, 0.9, 7, ["\n\n"], 50)


def test_finish_reasons_map_to_openai_names(engine: ScriptEngine, server: str) -> None:
    engine.queue("one two three four five", ScriptedReply("cut at a stop", finish_reason="stop"))
    c = client(server)
    r = c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "count"}], max_completion_tokens=2)
    assert r.choices[0].finish_reason == "length" and r.choices[0].message.content == "one two"
    r = c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].finish_reason == "stop"


def test_chat_streaming_with_usage(engine: ScriptEngine, server: str) -> None:
    engine.queue("a streamed reply of six words")
    chunks = list(client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}],
        stream=True, stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "a streamed reply of six words"
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
    assert all(c.usage is None for c in chunks[:-1])
    assert engine.calls[-1][0][-1].content == "Hi there"  # text parts joined


def test_streaming_without_usage_ends_with_the_finish_chunk(engine: ScriptEngine, server: str) -> None:
    chunks = list(client(server).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "echo"}], stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage is None
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "You said: echo"


def test_text_completions(engine: ScriptEngine, server: str) -> None:
    engine.queue("continued text here")
    c = client(server)
    r = c.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=2)
    assert r.object == "text_completion" and r.choices[0].text == "continued text" and r.choices[0].finish_reason == "length"
    assert engine.calls[-1][0][-1].content == "Once upon a time"
    engine.queue("streamed completion")
    parts = list(c.completions.create(model=MODEL, prompt="Go", stream=True, stream_options={"include_usage": True}))
    assert "".join(p.choices[0].text for p in parts if p.choices) == "streamed completion"
    assert parts[-1].usage is not None and parts[-1].usage.completion_tokens == 2


def test_embeddings_float_and_base64(server: str) -> None:
    c = client(server)
    r = c.embeddings.create(model=MODEL, input=["hello", "a longer text"])  # the client asks for base64 itself
    assert [d.index for d in r.data] == [0, 1] and len(r.data[0].embedding) == 3
    assert r.data[0].embedding != r.data[1].embedding
    assert abs(sum(x * x for x in r.data[0].embedding) - 1) < 1e-5
    f = c.embeddings.create(model=MODEL, input="hello", encoding_format="float")
    assert f.data[0].embedding == pytest.approx(r.data[0].embedding, abs=1e-6)
    assert f.usage.prompt_tokens == 1


def test_manifest_defaults_apply_and_the_request_wins(engine: ScriptEngine) -> None:
    from models.bundled import smollm2_path
    from models.store import Store

    Store().add("mine", smollm2_path(), link=True,
                update={"defaults": {"system": "You are Mine.", "temperature": 0.3, "top_k": 5}})
    with serving(engine) as (url, _):
        client(url).chat.completions.create(model="mine", messages=[{"role": "user", "content": "hi"}], top_p=0.5)
        messages, params = engine.calls[-1]
        assert messages[0].role == "system" and messages[0].content == "You are Mine."
        assert (params.temperature, params.top_k, params.top_p) == (0.3, 5, 0.5)
        client(url).chat.completions.create(model="mine", temperature=1.1,
                                            messages=[{"role": "system", "content": "Other."}, {"role": "user", "content": "hi"}])
        messages, params = engine.calls[-1]
        assert [m.content for m in messages if m.role == "system"] == ["Other."] and params.temperature == 1.1


def test_history_only_with_the_flag(engine: ScriptEngine) -> None:
    with serving(engine) as (url, _):
        client(url).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "not saved"}])
    with History() as h:
        assert h.list_conversations() == []
    with serving(engine, on_reply=HistoryWriter()) as (url, _):
        engine.queue("Saved reply.")
        client(url).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "save me"}])
    with History() as h:
        [conv] = h.list_conversations()
        thread = h.thread(conv.id)
        assert conv.model == MODEL and [(m.role, m.content) for m in thread] == [("user", "save me"), ("assistant", "Saved reply.")]
        assert thread[-1].finish_reason == "eot"

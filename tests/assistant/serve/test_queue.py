"""One engine, many clients: FIFO turns, a bounded queue, a disconnect cancels its generation, models
load on first use, switch after the current reply and unload when idle."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from assistant.engine.fake import ScriptedReply
from tests.assistant.serve.conftest import MODEL, ScriptEngine, serving, wait_for

LONG = " ".join(f"w{i}" for i in range(400))


def chat(url: str, text: str, **extra: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", timeout=60,
                      json={"model": MODEL, "messages": [{"role": "user", "content": text}], **extra})


def in_thread(fn: Any, *args: Any, **kw: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn(*args, **kw)), daemon=True)
    t.start()
    return t, out


def test_requests_take_turns_first_come_first_served() -> None:
    engine = ScriptEngine(delay=0.01)
    engine.queue(LONG)  # the first reply keeps the engine busy while the others queue
    with serving(engine) as (url, state):
        threads = []
        body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "first"}]}
        with httpx.Client(timeout=60) as c, c.stream("POST", f"{url}/v1/chat/completions", json=body):
            wait_for(lambda: state.worker.busy, "the first reply to start")
            for i in range(4):
                t, out = in_thread(chat, url, f"queued {i}")
                wait_for(lambda n=i + 1: state.worker.queued() == n, f"request {i} to queue")
                threads.append((t, out))
        for t, _ in threads:
            t.join(60)
        order = [calls[0][-1].content for calls in engine.calls]
        assert order == ["first", "queued 0", "queued 1", "queued 2", "queued 3"]
        assert [out[0].json()["choices"][0]["message"]["content"] for _, out in threads] == [
            f"You said: queued {i}" for i in range(4)]


def test_a_full_queue_answers_503_with_retry_after() -> None:
    engine = ScriptEngine(delay=0.01)
    engine.queue(LONG, "short")
    with serving(engine, max_queue=1) as (url, state):
        with httpx.Client(timeout=60) as c, c.stream("POST", f"{url}/v1/chat/completions",
                                                     json={"model": MODEL, "stream": True,
                                                           "messages": [{"role": "user", "content": "a"}]}) as running:
            wait_for(lambda: state.worker.busy, "the first reply to start")
            waiting, _ = in_thread(chat, url, "b")
            wait_for(lambda: state.worker.queued() == 1, "the second request to queue")
            r = chat(url, "c")
            assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
            assert r.json()["error"]["code"] == "queue_full"
            r = httpx.post(f"{url}/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "d"}]})
            assert r.status_code == 503 and "queue is full" in r.json()["error"]
            assert running.status_code == 200
        waiting.join(60)  # closing the first stream cancelled it; the queued one then ran
        assert [f.finish_reason for f in engine.finishes] == ["cancelled", "eot"]


@pytest.mark.parametrize("stream", [True, False])
def test_a_disconnect_stops_the_generation(stream: bool) -> None:
    engine = ScriptEngine(delay=0.01)
    engine.queue(LONG)
    with serving(engine) as (url, state):
        body = {"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": "talk"}]}
        if stream:
            with httpx.Client(timeout=60) as c, c.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
                got = 0
                for line in r.iter_lines():
                    got += line.startswith("data: ")
                    if got >= 5:
                        break
        else:
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{url}/v1/chat/completions", json=body, timeout=httpx.Timeout(60, read=0.3))
        [end] = wait_for(lambda: engine.finishes, "the reply to end")
        assert end.finish_reason == "cancelled"
        assert end.stats is not None and end.stats.completion_tokens < 400
        wait_for(lambda: not state.worker.busy, "the engine to be free")
        assert chat(url, "next").json()["choices"][0]["message"]["content"] == "You said: next"


def test_a_request_that_leaves_while_queued_never_runs() -> None:
    engine = ScriptEngine(delay=0.01)
    engine.queue(LONG)
    with serving(engine) as (url, state):
        body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "first"}]}
        with httpx.Client(timeout=60) as c, c.stream("POST", f"{url}/v1/chat/completions", json=body):
            wait_for(lambda: state.worker.busy, "the first reply to start")
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{url}/v1/chat/completions", timeout=httpx.Timeout(60, read=0.2),
                           json={"model": MODEL, "messages": [{"role": "user", "content": "impatient"}]})
            wait_for(lambda: state.worker.queued() == 0, "the queued request to be dropped")
        assert chat(url, "after").status_code == 200
        assert [calls[0][-1].content for calls in engine.calls] == ["first", "after"]


def test_models_load_on_first_use_and_switch_after_the_current_reply() -> None:
    from models.bundled import smollm2_path
    from models.store import Store

    Store().add("other", smollm2_path(), link=True)
    engine = ScriptEngine(delay=0.002)
    engine.queue(" ".join(["x"] * 100))
    with serving(engine) as (url, state):
        assert engine.loads == [] and httpx.get(f"{url}/health").json()["model"] is None
        first, out_a = in_thread(chat, url, "on smol")
        wait_for(lambda: state.worker.busy, "the first reply to start")
        second, out_b = in_thread(httpx.post, f"{url}/v1/chat/completions", timeout=60,
                                  json={"model": "other", "messages": [{"role": "user", "content": "on other"}]})
        first.join(60)
        second.join(60)
        assert out_a[0].json()["choices"][0]["finish_reason"] == "stop"
        assert len(out_a[0].json()["choices"][0]["message"]["content"].split()) == 100  # not cut by the switch
        assert out_b[0].json()["model"] == "other"
        assert engine.loads == [MODEL, "other"]
        assert httpx.get(f"{url}/health").json()["model"] == "other"


def test_idle_model_unloads_after_keep_alive() -> None:
    engine = ScriptEngine()
    with serving(engine, keep_alive=0.2) as (url, state):
        assert chat(url, "hi").status_code == 200
        wait_for(lambda: state.worker.loaded is None, "the idle model to unload")
        assert engine.info is None and engine.closes >= 1
        assert chat(url, "again").status_code == 200 and engine.loads == [MODEL, MODEL]


def test_a_model_that_does_not_fit_is_a_4xx_with_our_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.engine.memory as memory
    from assistant.engine.llama import LlamaEngine
    from assistant.serve.worker import default_loader

    monkeypatch.setattr(memory, "available_memory", lambda: 16 << 20)
    from assistant.engine.base import LoadOptions
    from assistant.serve.run import BackgroundServer
    from assistant.serve.state import ServeConfig, ServeState
    from assistant.serve.worker import EngineWorker

    state = ServeState(EngineWorker(LlamaEngine(), LoadOptions(n_ctx=512), loader=default_loader), ServeConfig(quiet=True))
    with BackgroundServer(state) as url:
        r = chat(url, "hi")
        assert r.status_code == 400 and r.json()["error"]["code"] == "insufficient_memory"
        assert "needs about" in r.json()["error"]["message"] and "--ctx-size" in r.json()["error"]["message"]
        assert httpx.get(f"{url}/health").json()["status"] == "ok"


def test_an_error_mid_stream_is_an_error_event() -> None:
    class Breaks(ScriptEngine):
        broken = False

        def stream(self, messages: Any, params: Any = None) -> Any:
            if self.broken:
                yield from super().stream(messages, params)
                return
            self.broken = True
            yield from list(super().stream(messages, params))[:2]
            from models.errors import AssistantError

            raise AssistantError("llama.cpp failed to decode a token.")

    engine = Breaks()
    engine.queue(ScriptedReply("some words here"))
    with serving(engine) as (url, _):
        r = chat(url, "x", stream=True)
        events = [line for line in r.text.splitlines() if line.startswith("data: ")]
        assert '"content":"some"' in events[1] and "failed to decode" in events[-2] and events[-1] == "data: [DONE]"
        assert chat(url, "still there?").status_code == 200

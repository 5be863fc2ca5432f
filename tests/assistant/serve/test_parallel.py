"""``serve --parallel``: the real server over BatchedEngine and the bundled SmolLM2-135M-Instruct.

Exact comparisons run the engine as tests/assistant/engine/test_scheduler.py does (one thread,
``n_ubatch=32``: every row takes llama.cpp's per-row attention kernel, so a sequence's logits do not
depend on what shares its batch) and the concurrent run on a fresh server, so each sequence's KV cells
are in position order as they are alone. Overlap is asserted on what the worker saw, never on timings.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from assistant.engine.base import LoadOptions, ServingEngine
from assistant.engine.batched import BatchedEngine
from assistant.serve.parallel import ParallelWorker
from assistant.serve.run import BackgroundServer
from assistant.serve.state import ServeConfig, ServeState
from assistant.serve.worker import Finished, Job, default_loader
from models.resolve import ResolvedModel, resolve
from tests.assistant.serve.conftest import MODEL, wait_for

OPTIONS = LoadOptions(n_ctx=512, n_threads=1)  # each sequence's share
QUESTIONS = ["Write a story about a cat.", "What is the capital of France?", "List three colors.",
             "Explain gravity briefly."]
GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 24}


class Recorder:
    """The server's on_reply hook: each finished chat reply, in the order they ended."""

    def __init__(self) -> None:
        self.replies: list[tuple[str, str, Finished]] = []

    def __call__(self, job: Job, text: str, finished: Finished) -> None:
        self.replies.append((job.messages[-1].content, text, finished))


@contextmanager
def parallel_server(worker: ParallelWorker | None = None,
                    pinned: ResolvedModel | None = None) -> Iterator[tuple[str, ServeState, BatchedEngine]]:
    worker = worker or ParallelWorker(BatchedEngine(4, n_ubatch=32), OPTIONS, parallel=4)
    assert isinstance(worker.engine, BatchedEngine)
    state = ServeState(worker, ServeConfig(quiet=True), pinned)
    with BackgroundServer(state) as url:
        yield url, state, worker.engine


def chat(url: str, text: str, model: str = MODEL, **extra: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", timeout=120,
                      json={"model": model, "messages": [{"role": "user", "content": text}], **extra})


def in_thread(fn: Any, *args: Any, **kw: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn(*args, **kw)), daemon=True)
    t.start()
    return t, out


def running_on(engine: BatchedEngine, n: int) -> Callable[[], bool]:
    return lambda: engine.busy()[0] == n


def content(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    return str(r.json()["choices"][0]["message"]["content"])


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> ResolvedModel:
    """The same GGUF under another path: to the worker, another model (switching unloads and loads)."""
    src = resolve(MODEL).path
    dst = tmp_path_factory.mktemp("other") / "other.gguf"
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
    return resolve(str(dst))


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def loads() -> list[tuple[str, int]]:
    return []


@pytest.fixture(scope="module")
def served(other_model: ResolvedModel, recorder: Recorder,
           loads: list[tuple[str, int]]) -> Iterator[tuple[str, ServeState, BatchedEngine]]:
    """parallel 4 and a queue of 1, the model loaded; each load records the jobs the worker runs then."""
    def loader(engine: ServingEngine, model: ResolvedModel, options: LoadOptions) -> Any:
        loads.append((model.name, worker.running()))
        return default_loader(engine, model, options)

    worker = ParallelWorker(BatchedEngine(4, n_ubatch=32), OPTIONS, parallel=4, max_queue=1, on_reply=recorder,
                            loader=loader)
    with parallel_server(worker, pinned=other_model) as served:
        content(chat(served[0], "hi", temperature=0, max_tokens=1))
        yield served


@pytest.fixture(scope="module")
def alone(served: tuple[str, ServeState, BatchedEngine]) -> dict[str, str]:
    """Each question's greedy reply with nothing else running."""
    url = served[0]
    return {q: content(chat(url, q, **GREEDY)) for q in QUESTIONS}


def test_four_concurrent_greedy_requests_equal_each_alone(alone: dict[str, str]) -> None:
    with parallel_server() as (url, state, _):
        threads = [in_thread(chat, url, q, **GREEDY) for q in QUESTIONS]
        for t, _ in threads:
            t.join(120)
        assert [content(out[0]) for _, out in threads] == [alone[q] for q in QUESTIONS]
        assert isinstance(state.worker, ParallelWorker) and state.worker.peak == 4  # all four at once


def test_a_disconnect_frees_its_sequence_the_others_finish_and_a_full_queue_is_503(
        served: tuple[str, ServeState, BatchedEngine], recorder: Recorder) -> None:
    url, state, engine = served
    recorder.replies.clear()
    long = {"temperature": 0, "max_tokens": 96, "ignore_eos": True}
    others = []
    for i, q in enumerate(QUESTIONS[:3]):  # one by one: the queue holds one
        others.append(in_thread(chat, url, f"long {i}: {q}", **long))
        wait_for(running_on(engine, i + 1), f"reply {i} to run")
    body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "victim: tell a story"}], **long}
    with httpx.Client(timeout=120) as c, c.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
        lines = r.iter_lines()
        assert sum(1 for _, line in zip(range(3), (x for x in lines if x.startswith("data: ")))) == 3
        assert engine.busy()[0] == 4
        fifth, fifth_out = in_thread(chat, url, "fifth: say hi", temperature=0, max_tokens=8, ignore_eos=True)
        wait_for(lambda: state.worker.queued() == 1, "the fifth request to queue")
        refused = chat(url, "sixth")  # 4 running + 1 waiting: beyond --parallel and --max-queue
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
    # the victim is gone: its sequence frees and the fifth gets it while the others still run
    fifth.join(120)
    for t, _ in others:
        t.join(120)
    assert content(fifth_out[0]) and all(len(content(out[0])) > 0 for _, out in others)
    wait_for(lambda: len(recorder.replies) == 5, "every reply's hook")
    order = [(p.split(":")[0], f.finish_reason, f.stats.completion_tokens) for p, _, f in recorder.replies]
    assert order[0][:2] == ("victim", "cancelled") and order[0][2] < 96
    assert order[1] == ("fifth", "length", 8)  # it ran beside the three long ones, in the victim's place
    assert sorted(order[2:]) == [(f"long {i}", "length", 96) for i in range(3)]
    wait_for(lambda: engine.busy() == (0, 0) and not state.worker.busy, "the engine to be idle")


def test_switching_the_model_waits_for_the_running_replies(
        served: tuple[str, ServeState, BatchedEngine], recorder: Recorder, other_model: ResolvedModel,
        loads: list[tuple[str, int]]) -> None:
    url, state, engine = served
    recorder.replies.clear()
    loads.clear()
    long = {"temperature": 0, "max_tokens": 64, "ignore_eos": True}
    running = []
    for i in range(2):
        running.append(in_thread(chat, url, f"first {i}: count to fifty", **long))
        wait_for(running_on(engine, i + 1), f"reply {i} to run")
    switch, switch_out = in_thread(chat, url, "switch: say hi", model=other_model.name, temperature=0, max_tokens=8)
    wait_for(lambda: state.worker.queued() == 1, "the other model's request to wait")
    assert state.worker.loaded is not None and state.worker.loaded.name == MODEL and loads == []
    for t, _ in [*running, (switch, switch_out)]:
        t.join(120)
    assert content(switch_out[0]) and all(content(out[0]) for _, out in running)
    wait_for(lambda: len(recorder.replies) == 3, "every reply's hook")
    assert [p.split(":")[0] for p, _, _ in recorder.replies][2] == "switch"
    assert loads == [(other_model.name, 1)]  # loaded when the worker ran nothing but the job that needs it
    assert recorder.replies[2][2].load_seconds > 0 and state.worker.loaded.name == other_model.name

"""Continuous batching (assistant/engine/scheduler.py, batched.py) on the bundled SmolLM2-135M-Instruct.

Exact comparisons run with one thread and ``n_ubatch=32``: llama.cpp's CPU flash attention takes a
tiled kernel for a ubatch of 64 rows or more and a split-KV kernel for a lone row over 512+ cells on
several threads, both with other rounding than the per-row kernel; below 64 rows on one thread every
row gets the per-row kernel, so a sequence's logits do not depend on what else is in its batch
(scheduler.py says more). The concurrent runs use a fresh engine, so each sequence's KV cells are
in position order as they are when it runs alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import pytest

from assistant.engine.base import (
    Chunk,
    ContextTooLong,
    GenerationParams,
    LoadOptions,
    Message,
    ServingEngine,
    collect,
)
from assistant.engine.batched import BatchedEngine
from models.errors import AssistantError

MODEL = "smollm2-135m-instruct"
OPTIONS = LoadOptions(n_ctx=2048, n_threads=1)
N = 24  # tokens per reply
QUESTIONS = ["Write a story about a cat.", "What is the capital of France?", "List three colors.",
             "Explain gravity briefly."]


def greedy(n: int = N) -> GenerationParams:
    return GenerationParams(temperature=0.0, max_tokens=n)


def chat(question: str) -> list[Message]:
    return [Message("user", question)]


def open_engine(parallel: int = 4, **kw: int) -> BatchedEngine:
    engine = BatchedEngine(parallel, n_ubatch=32, **kw)
    engine.load(MODEL, OPTIONS)
    return engine


def drain_all(streams: Sequence[Iterator[Chunk]]) -> list[tuple[str, Chunk]]:
    """Read every stream on its own thread (as a server's clients do)."""
    out: list[tuple[str, Chunk] | None] = [None] * len(streams)
    errors: list[BaseException] = []

    def read(i: int) -> None:
        try:
            out[i] = collect(streams[i])
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(streams))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    assert all(r is not None for r in out)
    return [r for r in out if r is not None]


def assert_answers(engine: BatchedEngine) -> None:
    """A reply still comes, whole. (Not compared token for token with a lone run: after cells were
    freed, a sequence's new tokens may land below its older ones, and llama.cpp's attention sums a
    row's cells in cell order, so a late token may round apart.)"""
    text, last = collect(engine.stream(chat("What is 2 + 2?"), greedy(200)))
    assert "4" in text and last.finish_reason == "eot"


@pytest.fixture(scope="module")
def engine() -> Iterator[BatchedEngine]:
    eng = open_engine()
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def alone(engine: BatchedEngine) -> dict[str, str]:
    """Each question's greedy reply with nothing else running."""
    return {q: collect(engine.stream(chat(q), greedy()))[0] for q in QUESTIONS}


@pytest.fixture
def fresh() -> Iterator[BatchedEngine]:
    eng = open_engine()
    yield eng
    eng.close()


def test_contracts_and_info(engine: BatchedEngine) -> None:
    assert isinstance(engine, ServingEngine)
    info = engine.info
    assert info is not None and info.context_length == 2048 and info.template_origin == "gguf"
    text, last = collect(engine.stream(chat("What is 2 + 2?"), greedy(200)))
    assert last.finish_reason == "eot" and "<|im_end|>" not in text
    assert last.stats is not None and last.stats.prompt_tokens == engine.count_tokens(chat("What is 2 + 2?"))
    assert last.stats.n_ctx == 2048 and 0 < last.stats.completion_tokens < 200 and last.stats.threads == 1


def test_four_concurrent_greedy_streams_equal_each_alone(fresh: BatchedEngine, alone: dict[str, str]) -> None:
    results = drain_all([fresh.stream(chat(q), greedy()) for q in QUESTIONS])
    for q, (text, last) in zip(QUESTIONS, results):
        assert text == alone[q], q
        assert last.stats is not None and last.stats.completion_tokens <= N


def test_seeds_reproduce_and_settings_mix_in_one_batch(fresh: BatchedEngine, engine: BatchedEngine,
                                                        alone: dict[str, str]) -> None:
    seeded = GenerationParams(temperature=0.9, top_k=0, top_p=1.0, min_p=0.0, seed=7, max_tokens=N)
    penalised = GenerationParams(temperature=0.7, seed=3, repeat_penalty=1.3, presence_penalty=0.5, max_tokens=N)
    grammar = GenerationParams(temperature=0.8, seed=1, max_tokens=N, grammar='root ::= ("yes" | "no") "."')
    story = QUESTIONS[0]
    solo_seeded = collect(engine.stream(chat(story), seeded))[0]
    solo_penalised = collect(engine.stream(chat(story), penalised))[0]
    results = drain_all([
        fresh.stream(chat(story), seeded),
        fresh.stream(chat(story), seeded),
        fresh.stream(chat(QUESTIONS[1]), greedy()),
        fresh.stream(chat(story), penalised),
        fresh.stream(chat("Is the sky blue? Answer yes or no."), grammar),
        fresh.stream(chat(QUESTIONS[2]), GenerationParams(temperature=0.0, max_tokens=N, stop=["Blue"])),
    ])
    (a, _), (b, _), (g, _), (p, _), (y, last_y), (s, last_s) = results
    assert a == b == solo_seeded  # the same seed, the same reply, whatever shares the batch
    assert g == alone[QUESTIONS[1]] and p == solo_penalised
    assert y in ("yes.", "no.") and last_y.finish_reason == "eot"
    # The sixth request waits for a sequence and reuses cells others freed: the per-row kernel sums
    # in cell order, so its tokens may round differently from a lone run; its stop string must hold.
    assert last_s.finish_reason == "stop" and "Blue" not in s and s.startswith("1. Red")


def test_cancelling_one_stream_leaves_the_others_unchanged(fresh: BatchedEngine, alone: dict[str, str]) -> None:
    streams = [fresh.stream(chat(q), greedy()) for q in QUESTIONS]
    victim = streams[1]
    first = next(victim)
    fresh.cancel(victim.request_id)
    rest = list(victim)
    assert first.text and rest[-1].finish_reason == "cancelled"
    assert rest[-1].stats is not None and rest[-1].stats.completion_tokens < N
    others = drain_all([s for i, s in enumerate(streams) if i != 1])
    for q, (text, last) in zip([q for i, q in enumerate(QUESTIONS) if i != 1], others):
        assert text == alone[q] and last.finish_reason in ("eot", "length")


def test_a_prompt_longer_than_a_sequences_share_is_one_sentence(engine: BatchedEngine) -> None:
    with pytest.raises(AssistantError) as err:
        engine.stream(chat("word " * 3000), greedy())
    message = str(err.value)
    assert "\n" not in message and message.endswith(".") and "--ctx-size" in message
    with pytest.raises(ContextTooLong) as too_long:
        engine.complete("word " * 3000, greedy())
    assert "\n" not in str(too_long.value) and "2048" in str(too_long.value)
    assert_answers(engine)  # nothing else hurt


def test_many_cancels_at_once_leave_the_scheduler_working(engine: BatchedEngine) -> None:
    streams = [engine.stream(chat(f"Count to {i + 20}."), greedy(200)) for i in range(12)]
    assert engine.busy()[1] > 0  # more requests than sequences: some wait
    next(streams[0])
    for s in streams:
        s.cancel()
    finals = [list(s)[-1] for s in streams]
    assert all(f.finish_reason in ("cancelled", "eot", "length") for f in finals)
    assert sum(f.finish_reason == "cancelled" for f in finals) >= 8
    deadline = time.monotonic() + 10
    while engine.busy() != (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.busy() == (0, 0)
    dropped = [engine.stream(chat(q), greedy(200)) for q in QUESTIONS]
    del dropped  # abandoned streams free their sequences too
    assert_answers(engine)


def test_prefix_reuse_per_sequence(engine: BatchedEngine) -> None:
    history = chat("Name a planet.")
    reply, last = collect(engine.stream(history, greedy(16)))
    assert last.stats is not None
    first_prompt = last.stats.prompt_tokens
    history += [Message("assistant", reply), Message("user", "How big is it?")]
    _, last = collect(engine.stream(history, greedy(8)))
    assert last.stats is not None and last.stats.prompt_evaluated < last.stats.prompt_tokens - first_prompt + 8


def test_a_full_kv_cache_defers_a_request_instead_of_failing(caplog: pytest.LogCaptureFixture) -> None:
    # Room for one sequence's share only: when both replies outgrow it, the younger waits for room and
    # is evaluated again (prompt and reply so far), then goes on. Exact until the deferral (~90 tokens
    # in); after it the older sequence's new tokens land in the cells the younger freed, out of position
    # order, and llama.cpp's attention sums a row's cells in cell order: later tokens may round apart.
    eng = BatchedEngine(2, n_ubatch=32, kv_cells=256)
    eng.load(MODEL, LoadOptions(n_ctx=256, n_threads=1))
    params = GenerationParams(temperature=0.0, max_tokens=150, ignore_eos=True)
    try:
        with caplog.at_level("INFO", logger="assistant.engine"):
            results = drain_all([eng.stream(chat(q), params) for q in QUESTIONS[:2]])
        assert any("KV cache full" in r.getMessage() for r in caplog.records)
        solo = [collect(eng.stream(chat(q), params))[0] for q in QUESTIONS[:2]]
        for (text, last), alone_text in zip(results, solo):
            assert text[:200] == alone_text[:200]
            assert last.finish_reason == "length" and last.stats is not None and last.stats.completion_tokens == 150
    finally:
        eng.close()


def test_a_bad_grammar_fails_its_request_alone(engine: BatchedEngine) -> None:
    good = engine.stream(chat(QUESTIONS[2]), greedy())
    bad = engine.stream(chat(QUESTIONS[2]), GenerationParams(grammar="root ::= (", max_tokens=4))
    with pytest.raises(AssistantError):
        collect(bad)
    text, last = collect(good)
    assert text.startswith("1. Red") and last.finish_reason in ("eot", "length")

"""Conversation KV state on disk (assistant/engine/kv_state.py) on the real bundled model: a restored
state answers exactly as the state that never left memory, evaluating only the new message; every
kind of bad file is a miss that deletes it and loses nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.engine.base import GenerationParams, LoadOptions, Message, collect
from assistant.engine.kv_state import StateStore
from assistant.engine.llama import LlamaEngine

GREEDY = GenerationParams(temperature=0.0, max_tokens=24)
FIRST = [Message("user", "Name three rivers in Europe and say one thing about each.")]


KV = Path()  # the module's state folder (tests get a private ASSISTANT_HOME each; the states outlive one)


def fresh(n_ctx: int = 2048) -> LlamaEngine:
    engine = LlamaEngine()
    engine.load("smollm2-135m-instruct", LoadOptions(n_ctx=n_ctx, n_threads=1))
    engine._states = StateStore(KV)
    return engine


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LlamaEngine, list[Message], str, int]]:
    """A conversation answered once and saved; the next message answered by the same engine."""
    global KV
    KV = tmp_path_factory.mktemp("kv")
    engine = fresh()
    reply, _ = collect(engine.stream(FIRST, GREEDY))
    engine.save_state("c1")
    engine._states.wait()
    second = [*FIRST, Message("assistant", reply), Message("user", "Which of them is the longest?")]
    expected, last = collect(engine.stream(second, GREEDY))
    assert last.stats is not None
    yield engine, second, expected, last.stats.prompt_tokens
    engine.close()


@pytest.fixture(scope="module")
def evaluated(saved: tuple[LlamaEngine, list[Message], str, int]) -> str:
    """The next reply of an engine that reads the whole conversation at once (no state): the fallback.
    It may differ from the reply above, whose history was read in pieces (llama.cpp's batch shapes)."""
    other = fresh()
    try:
        return collect(other.stream(saved[1], GREEDY))[0]
    finally:
        other.close()


def test_a_restored_state_answers_as_the_one_in_memory(saved: tuple[LlamaEngine, list[Message], str, int]) -> None:
    _, second, expected, prompt_tokens = saved
    other = fresh()
    try:
        assert other.restore_state("c1")
        text, last = collect(other.stream(second, GREEDY))
        assert text == expected
        assert last.stats is not None and last.stats.prompt_tokens == prompt_tokens
        assert last.stats.prompt_evaluated < prompt_tokens // 2  # only the new message was read
    finally:
        other.close()


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "foreign"])
def test_a_bad_file_is_a_miss_that_deletes_it(saved: tuple[LlamaEngine, list[Message], str, int], evaluated: str,
                                             damage: str) -> None:
    engine, second, _, prompt_tokens = saved
    engine.save_state("bad")
    engine._states.wait()
    path = StateStore(KV).path("bad")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:-10] + bytes(b ^ 0xFF for b in data[-10:]))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"GGUF" + os.urandom(200))
    other = fresh()
    try:
        assert not other.restore_state("bad") and not path.exists()
        text, last = collect(other.stream(second, GREEDY))
        assert text == evaluated and last.stats is not None and last.stats.prompt_evaluated > prompt_tokens // 2
    finally:
        other.close()


def test_another_context_size_is_a_miss(saved: tuple[LlamaEngine, list[Message], str, int]) -> None:
    engine, *_ = saved
    engine.save_state("ctx")
    engine._states.wait()
    other = fresh(n_ctx=1024)
    try:
        assert not other.restore_state("ctx") and not StateStore(KV).path("ctx").exists()
    finally:
        other.close()


def test_a_crash_while_writing_leaves_the_old_state(saved: tuple[LlamaEngine, list[Message], str, int]) -> None:
    engine, *_ = saved
    engine.save_state("crash")
    engine._states.wait()
    path = StateStore(KV).path("crash")
    (path.parent / f".{path.name}.12345.tmp").write_bytes(b"half a file")  # what a crash mid-write leaves
    other = fresh()
    try:
        assert other.restore_state("crash")
    finally:
        other.close()


def test_a_full_disk_saves_nothing_and_breaks_nothing(saved: tuple[LlamaEngine, list[Message], str, int],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    engine = saved[0]

    def full(*args: object, **kw: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    engine.save_state("full")
    engine._states.wait()
    assert not StateStore(KV).path("full").exists()
    assert not list(StateStore(KV).folder.glob(".*.tmp")) or all("12345" in p.name for p in StateStore(KV).folder.glob(".*.tmp"))


def test_the_budget_evicts_the_least_recently_used(tmp_path: Path) -> None:
    from assistant.engine.kv_state import Identity

    ident = Identity("m", "", 2048, True, "f16/f16", "t")
    probe = StateStore(tmp_path / "probe")
    probe.save("x", ident, [1, 2, 3], bytes(1000))
    probe.wait()
    budget = 3 * probe.path("x").stat().st_size + 10  # room for three files
    store = StateStore(tmp_path / "kv", budget=budget)
    for i, key in enumerate(["a", "b", "c"]):
        store.save(key, ident, [1, 2, 3], bytes(1000))
        store.wait()
        os.utime(store.path(key), (1000 + i, 1000 + i))
    store.save("d", ident, [1, 2, 3], bytes(1000))
    store.wait()
    assert not store.path("a").exists() and all(store.path(k).exists() for k in "bcd")
    assert store.used_bytes() <= budget
    assert store.load("b", ident) == ([1, 2, 3], bytes(1000))
    assert store.load("b", Identity("other-model", "", 2048, True, "f16/f16", "t")) is None
    assert not store.path("b").exists()  # stale for this model: deleted
    assert store.clear() == 2 and store.used_bytes() == 0  # c and d

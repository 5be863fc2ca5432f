from __future__ import annotations

from pathlib import Path

import pytest

from assistant.engine.base import Message
from assistant.engine.context import fit_to_context
from assistant.engine.memory import check_fits, estimate
from models.errors import AssistantError, NotEnoughMemory
from models.gguf_file import read_gguf


def words(messages: list[Message]) -> list[int]:
    return [0] * sum(len(m.content.split()) + 2 for m in messages)


def test_drops_oldest_turns_but_keeps_the_system_prompt() -> None:
    msgs = [Message("system", "be brief")]
    for i in range(5):
        msgs += [Message("user", f"question {i} " + "x " * 20), Message("assistant", "answer " + "y " * 20)]
    msgs.append(Message("user", "last"))
    kept, dropped, tokens = fit_to_context(msgs, words, budget=100)
    assert kept[0] == msgs[0] and kept[-1] == msgs[-1]
    assert dropped == 4 and len(tokens) <= 100
    assert kept[1].content.startswith("question 4")


def test_nothing_dropped_when_it_fits() -> None:
    msgs = [Message("user", "hi")]
    assert fit_to_context(msgs, words, 100)[1] == 0


def test_one_message_too_long_is_an_error() -> None:
    with pytest.raises(AssistantError, match="too long for the context"):
        fit_to_context([Message("system", "s"), Message("user", "x " * 500)], words, 100)


def test_memory_estimate_counts_weights_and_kv_cache(smollm2_path: Path) -> None:
    info = read_gguf(smollm2_path, vocab=True)
    est = estimate(info, 8192, available=1 << 40)
    # 30 layers x 8192 positions x 3 kv heads x (64 + 64) dims x 2 bytes
    assert est.kv_cache == 30 * 8192 * 3 * 128 * 2
    assert est.weights == info.file_size and est.fits
    assert estimate(info, 1024, 1 << 40).kv_cache == est.kv_cache // 8


def test_model_too_big_is_refused_in_one_sentence(smollm2_path: Path) -> None:
    info = read_gguf(smollm2_path)
    with pytest.raises(NotEnoughMemory, match=r"needs about .* GiB .* --force"):
        check_fits(info, 8192, available=50 << 20)
    assert check_fits(info, 8192, available=50 << 20, force=True).fits is False

"""Per-reply CPU threads: the cores other processes leave free (assistant/engine/threads.py)."""

from __future__ import annotations

import multiprocessing
import os
import time

from assistant.engine.base import GenerationParams, LoadOptions, Message, collect
from assistant.engine.llama import LlamaEngine, physical_cores
from assistant.engine.threads import ThreadPicker, threads_for


def test_threads_for_takes_the_free_cores_within_bounds() -> None:
    assert threads_for(4, 8, 0.0) == 4  # never more than asked for
    assert threads_for(8, 8, 0.2) == 8  # a little background work leaves every core
    assert threads_for(8, 8, 3.0) == 5
    assert threads_for(2, 2, 1.0) == 1
    assert threads_for(2, 2, 2.0) == 1 and threads_for(2, 2, 7.5) == 1  # always at least one


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_picker_sees_other_processes_and_not_its_own_work() -> None:
    cpus = os.cpu_count() or 1
    picker = ThreadPicker(cpus)
    time.sleep(0.3)
    idle = picker.busy_elsewhere()  # whatever else this machine is doing now
    _spin(0.3)
    assert picker.busy_elsewhere() < idle + 0.5  # our own work does not count as others'
    spinners = [multiprocessing.Process(target=_spin, args=(3.0,)) for _ in range(cpus)]
    for p in spinners:
        p.start()
    try:
        time.sleep(0.5)
        picker.restart()
        time.sleep(0.5)
        assert picker.busy_elsewhere() > cpus - 0.6
        assert picker.pick() == 1
    finally:
        for p in spinners:
            p.terminate()
            p.join()


def test_engine_reports_its_threads_and_keeps_a_fixed_count() -> None:
    msgs = [Message("user", "Say hi.")]
    params = GenerationParams(temperature=0.0, max_tokens=4)
    fixed = LlamaEngine()
    fixed.load(None, LoadOptions(n_ctx=512, n_threads=1))
    try:
        assert collect(fixed.stream(msgs, params))[1].stats.threads == 1  # type: ignore[union-attr]
        assert fixed.info is not None and fixed.info.spare_cores == physical_cores() - 1
    finally:
        fixed.close()
    auto = LlamaEngine()
    auto.load(None, LoadOptions(n_ctx=512))
    try:
        assert auto.info is not None and auto.info.spare_cores == 0  # every physical core computes
        threads = collect(auto.stream(msgs, params))[1].stats.threads  # type: ignore[union-attr]
        assert 1 <= threads <= physical_cores()
    finally:
        auto.close()

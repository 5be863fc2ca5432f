"""How many CPU threads a reply gets.

llama.cpp's CPU threads meet at a spinning barrier after every operation, so a thread the kernel
parks for another process stalls all of them: on a 2-core machine with one other busy process,
2 threads decoded 1.3 tokens/s where 1 thread decoded 47. So, unless the person fixed the count
(``--threads``), each reply starts by looking at how much CPU other processes used since the last
reply ended (our own time left out; a fresh 50 ms look when that was long ago) and takes only the
cores they leave free: at most the physical cores, at least one.
"""

from __future__ import annotations

import os
import time

MIN_WINDOW = 0.05  # seconds: the shortest window a measurement is made over
STALE = 2.0  # seconds: an older starting point says little about now, so a fresh window is taken
ROUND_UP = 0.3  # a core that others keep busy under 30% of the time still counts as free


def threads_for(max_threads: int, cpus: int, busy_elsewhere: float) -> int:
    """Threads to use given ``busy_elsewhere`` cores' worth of other processes' work."""
    free = cpus - busy_elsewhere
    return max(1, min(max_threads, int(free + ROUND_UP)))


class ThreadPicker:
    """Measures other processes' CPU use between replies (system busy time minus ours)."""

    def __init__(self, max_threads: int) -> None:
        self.max_threads = max_threads
        self.cpus = os.cpu_count() or 1
        self._last = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        """(wall time, system-wide busy CPU seconds, this process's CPU seconds)."""
        import psutil

        system = psutil.cpu_times()
        busy = sum(system) - system.idle - getattr(system, "iowait", 0.0)
        own = psutil.Process().cpu_times()
        return time.perf_counter(), busy, own.user + own.system

    def restart(self) -> None:
        """Start the next window now (at the end of a reply)."""
        self._last = self._sample()

    def busy_elsewhere(self) -> float:
        """Cores' worth of other processes' work since the last (re)start, over at least MIN_WINDOW."""
        if time.perf_counter() - self._last[0] > STALE:
            self._last = self._sample()
        wall0, busy0, own0 = self._last
        wait = MIN_WINDOW - (time.perf_counter() - wall0)
        if wait > 0:
            time.sleep(wait)
        now = self._sample()
        self._last = now
        wall, busy, own = now[0] - wall0, now[1] - busy0, now[2] - own0
        return max(0.0, (busy - own) / wall) if wall > 0 else 0.0

    def pick(self) -> int:
        return threads_for(self.max_threads, self.cpus, self.busy_elsewhere())

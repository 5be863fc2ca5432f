"""Run the real CLI on a hostile input in a subprocess with an address-space limit, and measure it.

The limit is 1.5 GB (the issue's bound) on top of what the interpreter with llama_cpp and the
bundled model maps at baseline (VmPeak ~0.75 GB here: llama.cpp's mmap of the model and thread
stacks), so an input that tried to allocate gigabytes dies instead of swapping the machine. The
child's peak RSS and CPU time come from ``wait4``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

GB = 1 << 30
PEAK_LIMIT = int(1.5 * GB)  # the bound on a hostile input's peak memory
BASELINE_AS = 1 * GB  # address space the interpreter + llama_cpp + a loaded small model reserve
CPU_LIMIT_S = 10.0  # the "under 10 s", as CPU time: wall time on a loaded 2-core box is not the input's


@dataclass
class Bounded:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float
    peak_bytes: int

    def assert_one_line_error(self) -> None:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert self.returncode != 0, self.stderr
        assert "Traceback" not in self.stderr, self.stderr[-3000:]
        assert len(lines) == 1, self.stderr[-3000:]
        assert self.cpu_s < CPU_LIMIT_S, f"{self.cpu_s:.1f} s of CPU"
        assert self.peak_bytes < PEAK_LIMIT, f"peak {self.peak_bytes / GB:.2f} GB"


def _limit() -> None:
    limit = PEAK_LIMIT + BASELINE_AS
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_bounded(*args: str, stdin_path: str | None = None, env: dict[str, str] | None = None,
                module: str = "assistant", timeout: float = 120) -> Bounded:
    full_env = {**os.environ, **(env or {})}
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    try:
        proc = subprocess.Popen([sys.executable, "-m", module, *args], stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=full_env, preexec_fn=_limit)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"{args} ran past {timeout} s: {err.decode()[-2000:]}") from None
    finally:
        if stdin_path:
            stdin.close()  # type: ignore[union-attr]
    wall = time.monotonic() - start
    # communicate() reaped the child: RUSAGE_CHILDREN now includes it (its RSS is the max over all
    # children so far, an upper bound on this one's)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Bounded(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), wall,
                   cpu, after.ru_maxrss * 1024)

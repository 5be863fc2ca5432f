from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m assistant ARGS` in a subprocess with this test's ASSISTANT_HOME."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args], input=stdin if stdin is not None else "",
        capture_output=True, text=True, env=full_env, timeout=timeout,
    )

"""llama.cpp writes to file descriptor 2 even with ``verbose=False``.

``redirect_native_stderr`` points fd 2 at a log file while our own ``sys.stderr`` keeps writing to
the terminal through a saved duplicate of the original fd 2.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, TextIO

_saved: tuple[int, TextIO] | None = None  # (dup of the original fd 2, the original sys.stderr)
_log_path: Path | None = None


def redirect_native_stderr(log_file: Path) -> Path:
    """Idempotent. Returns the log file llama.cpp now writes to."""
    global _saved, _log_path
    if _saved is not None and _log_path is not None:
        return _log_path
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved_fd = os.dup(2)
    log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    original = sys.stderr
    sys.stderr = os.fdopen(os.dup(saved_fd), "w", buffering=1, encoding="utf-8", errors="replace")
    _saved = (saved_fd, original)
    _log_path = log_file
    return log_file


def restore_native_stderr() -> None:
    global _saved, _log_path
    if _saved is None:
        return
    saved_fd, original = _saved
    try:
        sys.stderr.flush()
        sys.stderr.close()
    except OSError:
        pass
    os.dup2(saved_fd, 2)
    os.close(saved_fd)
    sys.stderr = original
    _saved = None
    _log_path = None


def is_redirected() -> bool:
    return _saved is not None


# ggml's log levels (ggml.h); llama-cpp-python's own callback maps them wrongly (its table is from an
# older ggml), so llama.cpp's warnings pass its ERROR filter and reach the terminal.
GGML_LOG_LEVEL_ERROR = 4
GGML_LOG_LEVEL_CONT = 5
_log_state: dict[str, Any] = {"verbose": False, "callback": None, "last_level": 0}


def route_llama_log(verbose: bool) -> None:
    """Send llama.cpp's log lines to fd 2: the log file when redirected, else the terminal, where
    only errors show unless ``verbose``."""
    _log_state["verbose"] = verbose
    if _log_state["callback"] is not None:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[misc]
    def write(level: int, text: bytes, _user_data: Any) -> None:
        if level == GGML_LOG_LEVEL_CONT:
            level = _log_state["last_level"]
        _log_state["last_level"] = level
        if _saved is not None or _log_state["verbose"] or level >= GGML_LOG_LEVEL_ERROR:
            with contextlib.suppress(OSError):
                os.write(2, text)

    llama_cpp.llama_log_set(write, ctypes.c_void_p(0))
    _log_state["callback"] = write  # ctypes callbacks must outlive their registration

"""llama.cpp and gguf-py talk on fd 2 and through logging; during a conversion that goes to
DATA/logs/convert.log so the terminal shows our report (ASSISTANT_DEBUG=1 keeps it visible)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from models.paths import ensure_dir, log_dir

LOG_NAME = "convert.log"


def quiet_loggers() -> None:
    """gguf-py and llama-cpp-python log warnings we report ourselves, in our words."""
    if os.environ.get("ASSISTANT_DEBUG") == "1":
        return
    for name in ("gguf", "metadata", "llama-cpp-python", "gguf-new-metadata"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    quiet_loggers()
    if os.environ.get("ASSISTANT_DEBUG") == "1":
        yield
        return
    try:
        target = ensure_dir(log_dir()) / LOG_NAME
        fh = open(target, "ab")  # noqa: SIM115 - kept open for the dup2 below
    except (OSError, Exception):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(fh.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        fh.close()

"""Starting the real engine for a command: llama.cpp's log goes to a file, warnings to the person."""

from __future__ import annotations

import sys
from pathlib import Path

from assistant.engine.base import ModelInfo
from assistant.session.config import SessionConfig
from models.paths import ensure_dir, log_dir

LOG_NAME = "llama.log"


def llama_log_path() -> Path:
    return log_dir() / LOG_NAME


def quiet_native_logs(verbose: bool) -> None:
    """Send fd 2 (llama.cpp's log) to the log file unless --verbose."""
    if verbose:
        return
    from assistant.engine.stderr import redirect_native_stderr

    ensure_dir(log_dir())
    redirect_native_stderr(llama_log_path())


def start_engine(cfg: SessionConfig, *, show_warnings: bool = True):  # type: ignore[no-untyped-def]
    from assistant.engine.llama import LlamaEngine

    quiet_native_logs(cfg.load.verbose)
    engine = LlamaEngine()
    info: ModelInfo = engine.load(cfg.model, cfg.load)
    if show_warnings:
        for warning in info.warnings:
            print(f"Warning: {warning}", file=sys.stderr)
    return engine

"""Where things live. ``ASSISTANT_HOME`` overrides every directory (tests use it)."""

from __future__ import annotations

import os
from pathlib import Path

from models.errors import AssistantError

APP_NAME = "assistant"


def _home() -> Path | None:
    value = os.environ.get("ASSISTANT_HOME")
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def shared_cache_dir() -> Path:
    """Large derived files (the assembled gemma GGUF) shared across homes, keyed by sha256.

    ``ASSISTANT_SHARED_CACHE`` overrides it; tests point every per-test home at one shared cache.
    """
    value = os.environ.get("ASSISTANT_SHARED_CACHE")
    if value:
        return Path(value).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "shared"


def models_dir() -> Path:
    return data_dir() / "models"


def log_dir() -> Path:
    return data_dir() / "logs"


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) or raise one sentence saying it cannot be written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AssistantError(
            f"Cannot create the directory {path} ({exc.strerror}); set ASSISTANT_HOME to a writable folder."
        ) from exc
    if not os.access(path, os.W_OK):
        raise AssistantError(
            f"The directory {path} is not writable; fix its permissions or set ASSISTANT_HOME to a writable folder."
        )
    return path

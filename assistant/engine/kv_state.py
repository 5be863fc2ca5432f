"""Conversation KV state on disk: reopening a conversation restores llama.cpp's cache for it instead
of reading the whole history again.

One file per conversation in ``DATA/kv/``: a magic and format version, a JSON header, then the
bytes of ``llama_state_seq_get_data`` for the conversation's sequence. The header says what the
bytes are only valid for: llama.cpp's state version and the binding's, the model's sha256, the
adapter, the KV types, flash attention, the context size, the template's hash, and the token ids
the state holds (with the payload's sha256). Anything that differs, or a file that is corrupt,
truncated, empty or foreign, is a miss: the caller evaluates as before and the stale file is
deleted. Files are written by a background thread to a temp name and renamed, so a crash leaves
the old state or none; a byte budget (``kv_cache_bytes`` in the config, default 2 GiB) evicts the
least recently used."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("assistant.engine")
MAGIC = b"ASKV"
FORMAT = 1
DEFAULT_BUDGET = 2 << 30
SUFFIX = ".kvstate"
_HEAD = struct.Struct("<4sII")  # magic, format, header length


def kv_dir() -> Path:
    from models.paths import data_dir

    return data_dir() / "kv"


def budget_bytes() -> int:
    from models.store import read_config

    value = read_config().get("kv_cache_bytes")
    return int(value) if isinstance(value, int) and value >= 0 else DEFAULT_BUDGET


@dataclass(frozen=True)
class Identity:
    """What a state is valid for; two states load into each other only when these are equal."""

    model_sha256: str
    adapter: str  # "" or "path:scale"
    n_ctx: int
    flash_attn: bool
    kv_types: str  # "f16/f16" unless the context was made otherwise
    template_sha256: str

    def as_dict(self) -> dict[str, Any]:
        import llama_cpp

        return {"format": FORMAT, "llama_state_seq_version": llama_cpp.LLAMA_STATE_SEQ_VERSION,
                "llama_cpp_python": llama_cpp.__version__, "model_sha256": self.model_sha256,
                "adapter": self.adapter, "n_ctx": self.n_ctx, "flash_attn": self.flash_attn,
                "kv_types": self.kv_types, "template_sha256": self.template_sha256}


class StateStore:
    def __init__(self, folder: Path | None = None, budget: int | None = None) -> None:
        self.folder = folder or kv_dir()
        self.budget = budget_bytes() if budget is None else budget
        self._writer: threading.Thread | None = None

    def path(self, key: str) -> Path:
        safe = "".join(c for c in key if c.isalnum() or c in "-_") or "default"
        return self.folder / f"{safe}{SUFFIX}"

    # -- writing ------------------------------------------------------------------------------
    def save(self, key: str, identity: Identity, tokens: list[int], payload: bytes) -> None:
        """Write in the background (one write at a time; the next waits for the one before)."""
        self.wait()
        header = {**identity.as_dict(), "tokens": tokens, "payload_bytes": len(payload),
                  "payload_sha256": hashlib.sha256(payload).hexdigest()}
        self._writer = threading.Thread(target=self._write, args=(self.path(key), header, payload),
                                        name="kv-state-writer", daemon=True)
        self._writer.start()

    def wait(self) -> None:
        if self._writer is not None:
            self._writer.join()
            self._writer = None

    def _write(self, path: Path, header: dict[str, Any], payload: bytes) -> None:
        data = json.dumps(header).encode("utf-8")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(_HEAD.pack(MAGIC, FORMAT, len(data)))
                f.write(data)
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            self.evict(keep=path)
        except OSError as exc:  # a full disk: no state for this conversation, nothing else lost
            log.warning("could not save the conversation state %s: %s", path.name, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
            with contextlib.suppress(OSError):
                path.unlink()

    def evict(self, keep: Path | None = None) -> None:
        """Delete the least recently used files until the folder is within the budget."""
        files = sorted(self.files(), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        for p in files:
            if total <= self.budget:
                break
            if p == keep and total - p.stat().st_size <= self.budget:
                continue
            total -= p.stat().st_size
            with contextlib.suppress(OSError):
                p.unlink()

    # -- reading ------------------------------------------------------------------------------
    def load(self, key: str, identity: Identity) -> tuple[list[int], bytes] | None:
        """The state saved for ``key`` if it is valid for ``identity``; else None (a stale or broken
        file is deleted, with a line in the log saying why)."""
        self.wait()
        path = self.path(key)
        if not path.exists():
            return None
        try:
            found = self._read(path, identity)
        except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
            found = f"unreadable ({type(exc).__name__}: {exc})"
        if isinstance(found, str):
            log.info("conversation state %s not used: %s; evaluating the history again", path.name, found)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used
        return found

    def _read(self, path: Path, identity: Identity) -> tuple[list[int], bytes] | str:
        with open(path, "rb") as f:
            magic, version, size = _HEAD.unpack(f.read(_HEAD.size))
            if magic != MAGIC or version != FORMAT:
                return "not a state file of this format"
            if size > 64 << 20:
                return "header too large"
            header = json.loads(f.read(size))
            want = identity.as_dict()
            for name, value in want.items():
                if header.get(name) != value:
                    return f"{name} differs ({header.get(name)!r}, now {value!r})"
            payload = f.read(int(header["payload_bytes"]) + 1)
        if len(payload) != header["payload_bytes"]:
            return "truncated or too long"
        if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
            return "its bytes do not match their checksum"
        tokens = header["tokens"]
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            return "bad token list"
        return tokens, payload

    # -- for `assistant history` ----------------------------------------------------------------
    def files(self) -> list[Path]:
        return sorted(self.folder.glob(f"*{SUFFIX}")) if self.folder.is_dir() else []

    def used_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files())

    def clear(self) -> int:
        removed = 0
        for p in self.files():
            with contextlib.suppress(OSError):
                p.unlink()
                removed += 1
        return removed

    def forget(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self.path(key).unlink()


def model_sha256(path: Path, manifest_sha256: str | None) -> str:
    """The manifest's sha256, else the file's, computed once per (path, size, mtime) and cached."""
    if manifest_sha256:
        return manifest_sha256
    from models.hashing import sha256_file

    st = path.stat()
    key = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    cache = kv_dir() / "model-hashes.json"
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    if isinstance(known.get(key), str):
        return str(known[key])
    digest = sha256_file(path)
    known[key] = digest
    with contextlib.suppress(OSError):
        from models.atomic import write_json

        cache.parent.mkdir(parents=True, exist_ok=True)
        write_json(cache, known)
    return digest

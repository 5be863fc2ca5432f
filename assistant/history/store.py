"""Conversation history in SQLite (DESIGN.md, the History contract).

One file in the data dir, mode 0600, WAL journal and a busy timeout so several processes (the REPL,
the app, ``ask``) can write at once. The schema evolves through ``PRAGMA user_version`` migrations.
Messages carry ``parent_id``: regenerating or editing adds a sibling, so a conversation is a tree
and the thread on screen is the path from the root to the current leaf. A reply being streamed is
written as it grows with ``interrupted = 1``; only ``finish_reply`` clears it, so a reply whose
process died stays marked. Message text is indexed with FTS5.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.history.schema import MIGRATIONS, SCHEMA_VERSION, fts_query, retry_busy, statements
from models.errors import AssistantError
from models.paths import data_dir, ensure_dir

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Conversation", "History", "MessageRecord", "SearchHit", "statements",
           "fts_query"]

HISTORY_FILE = "history.sqlite3"
BUSY_TIMEOUT_MS = 30_000



@dataclass
class Conversation:
    id: int
    title: str
    created: float
    updated: float
    model: str | None
    system: str | None
    params: dict[str, Any] = field(default_factory=dict)
    leaf_id: int | None = None  # the selected branch's last message; None: the newest message


@dataclass
class MessageRecord:
    id: int
    conversation_id: int
    parent_id: int | None
    role: str
    content: str
    model: str | None
    created: float
    finish_reason: str | None
    stats: dict[str, Any]
    interrupted: bool
    tool_calls: list[dict[str, Any]] | None = None  # an assistant's calls: {"id", "type", "function": {"name", "arguments": {...}}}
    tool_call_id: str | None = None  # a tool message: the call it answers
    tool_name: str | None = None  # a tool message: the tool that ran

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchHit:
    conversation_id: int
    message_id: int
    title: str
    snippet: str


def default_path() -> Path:
    return data_dir() / HISTORY_FILE


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(row["id"], row["title"], row["created"], row["updated"], row["model"], row["system"],
                        json.loads(row["params"] or "{}"), row["leaf_id"])


def _message(row: sqlite3.Row) -> MessageRecord:
    calls = json.loads(row["tool_calls"]) if row["tool_calls"] else None
    return MessageRecord(row["id"], row["conversation_id"], row["parent_id"], row["role"], row["content"],
                         row["model"], row["created"], row["finish_reason"], json.loads(row["stats"] or "{}"),
                         bool(row["interrupted"]), calls if isinstance(calls, list) else None,
                         row["tool_call_id"], row["tool_name"])


class History:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        ensure_dir(self.path.parent)
        self._lock = threading.RLock()
        try:
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(self.path, 0o600)
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                       check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            retry_busy(self._set_wal)
            retry_busy(self._migrate)
        except sqlite3.DatabaseError as exc:
            raise AssistantError(
                f"Cannot open the history database {self.path} ({exc}); move it aside to start a new history."
            ) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. IMMEDIATE takes the write lock up front, so a busy database waits
        (busy timeout) instead of failing on a read-to-write upgrade."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _set_wal(self) -> None:
        if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            self._db.execute("PRAGMA journal_mode = WAL")

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise AssistantError(
                f"The history database {self.path} comes from a newer version of assistant "
                f"(schema {version}, this one knows {SCHEMA_VERSION}); upgrade assistant."
            )
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated
            for step in range(version, SCHEMA_VERSION):
                for statement in statements(MIGRATIONS[step]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {step + 1}")

    # -- conversations ------------------------------------------------------------------------
    def create_conversation(self, *, model: str | None, system: str | None = None,
                            params: dict[str, Any] | None = None, title: str = "") -> Conversation:
        now = time.time()
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO conversations(title, created, updated, model, system, params) VALUES (?,?,?,?,?,?)",
                (title, now, now, model, system, json.dumps(params or {})),
            )
            conv_id = int(cur.lastrowid or 0)
        return Conversation(conv_id, title, now, now, model, system, dict(params or {}))

    def get_conversation(self, conv_id: int) -> Conversation:
        with self._lock:
            row = self._db.execute("SELECT * FROM conversations WHERE id = ?", (conv_id,)).fetchone()
        if row is None:
            raise AssistantError(f"No conversation {conv_id} in the history; `assistant history list` shows them.")
        return _conversation(row)

    def list_conversations(self, limit: int = 200) -> list[Conversation]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM conversations ORDER BY updated DESC, id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_conversation(r) for r in rows]

    def last_conversation(self) -> Conversation | None:
        found = self.list_conversations(limit=1)
        return found[0] if found else None

    def count_messages(self, conv_id: int) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?",
                                        (conv_id,)).fetchone()[0])

    def update_conversation(self, conv_id: int, *, title: str | None = None, model: str | None = None,
                            system: str | None = None, params: dict[str, Any] | None = None,
                            clear_system: bool = False) -> None:
        changes: dict[str, Any] = {"updated": time.time()}
        if title is not None:
            changes["title"] = title
        if model is not None:
            changes["model"] = model
        if system is not None or clear_system:
            changes["system"] = system
        if params is not None:
            changes["params"] = json.dumps(params)
        sets = ", ".join(f"{k} = ?" for k in changes)
        with self._write() as db:
            cur = db.execute(f"UPDATE conversations SET {sets} WHERE id = ?", (*changes.values(), conv_id))
        if cur.rowcount == 0:
            self.get_conversation(conv_id)  # raises the one-sentence error

    def delete_conversation(self, conv_id: int) -> None:
        with self._write() as db:
            cur = db.execute("DELETE FROM conversations WHERE id = ?", (conv_id,))
        if cur.rowcount == 0:
            raise AssistantError(f"No conversation {conv_id} in the history; `assistant history list` shows them.")

    def set_leaf(self, conv_id: int, leaf_id: int | None) -> None:
        """Select the branch whose last message is ``leaf_id`` (what ``thread`` shows by default)."""
        with self._write() as db:
            db.execute("UPDATE conversations SET leaf_id = ? WHERE id = ?", (leaf_id, conv_id))

    # -- messages -------------------------------------------------------------------------------
    def _insert(self, conv_id: int, role: str, content: str, parent_id: int | None, model: str | None,
                finish_reason: str | None, stats: dict[str, Any] | None, interrupted: bool,
                tool_call_id: str | None = None, tool_name: str | None = None) -> MessageRecord:
        now = time.time()
        with self._write() as db:
            if db.execute("SELECT 1 FROM conversations WHERE id = ?", (conv_id,)).fetchone() is None:
                raise AssistantError(f"No conversation {conv_id} in the history; it may have been removed.")
            cur = db.execute(
                "INSERT INTO messages(conversation_id, parent_id, role, content, model, created, finish_reason,"
                " stats, interrupted, tool_call_id, tool_name) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (conv_id, parent_id, role, content, model, now, finish_reason, json.dumps(stats or {}),
                 int(interrupted), tool_call_id, tool_name),
            )
            msg_id = int(cur.lastrowid or 0)
            db.execute("UPDATE conversations SET updated = ?, leaf_id = ? WHERE id = ?", (now, msg_id, conv_id))
        return MessageRecord(msg_id, conv_id, parent_id, role, content, model, now, finish_reason,
                             dict(stats or {}), interrupted, None, tool_call_id, tool_name)

    def add_message(self, conv_id: int, role: str, content: str, *, parent_id: int | None,
                    model: str | None = None, finish_reason: str | None = None,
                    stats: dict[str, Any] | None = None) -> MessageRecord:
        return self._insert(conv_id, role, content, parent_id, model, finish_reason, stats, False)

    def add_tool_result(self, conv_id: int, content: str, *, parent_id: int, call_id: str, name: str,
                        is_error: bool = False, seconds: float = 0.0) -> MessageRecord:
        """A tool's result (``role`` tool), answering the call ``call_id`` of the assistant message
        before it; ``stats`` keeps how long the call took."""
        return self._insert(conv_id, "tool", content, parent_id, None, "error" if is_error else None,
                            {"seconds": round(seconds, 3)}, False, call_id, name)

    def start_reply(self, conv_id: int, *, parent_id: int | None, model: str | None) -> MessageRecord:
        """An empty assistant message, ``interrupted`` until ``finish_reply``."""
        return self._insert(conv_id, "assistant", "", parent_id, model, None, None, True)

    def update_reply(self, message_id: int, content: str) -> None:
        with self._write() as db:
            db.execute("UPDATE messages SET content = ? WHERE id = ?", (content, message_id))

    def finish_reply(self, message_id: int, content: str, finish_reason: str, stats: dict[str, Any],
                     tool_calls: list[dict[str, Any]] | None = None) -> None:
        now = time.time()
        with self._write() as db:
            db.execute(
                "UPDATE messages SET content = ?, finish_reason = ?, stats = ?, interrupted = 0, tool_calls = ?"
                " WHERE id = ?",
                (content, finish_reason, json.dumps(stats), json.dumps(tool_calls) if tool_calls else None, message_id),
            )
            db.execute("UPDATE conversations SET updated = ? WHERE id = "
                       "(SELECT conversation_id FROM messages WHERE id = ?)", (now, message_id))

    def delete_message(self, message_id: int) -> None:
        """Remove a message and its replies (a failed reply that produced nothing)."""
        with self._write() as db:
            row = db.execute("SELECT conversation_id, parent_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                return
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            db.execute("UPDATE conversations SET leaf_id = ? WHERE id = ? AND leaf_id = ?",
                       (row["parent_id"], row["conversation_id"], message_id))

    def get_message(self, message_id: int) -> MessageRecord:
        with self._lock:
            row = self._db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise AssistantError(f"No message {message_id} in the history.")
        return _message(row)

    def messages(self, conv_id: int) -> list[MessageRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM messages WHERE conversation_id = ? ORDER BY id",
                                    (conv_id,)).fetchall()
        return [_message(r) for r in rows]

    def thread(self, conv_id: int, leaf_id: int | None = None) -> list[MessageRecord]:
        """The path from the root to ``leaf_id`` (default: the selected leaf, else the newest message)."""
        by_id = {m.id: m for m in self.messages(conv_id)}
        if not by_id:
            return []
        if leaf_id is None:
            leaf_id = self.get_conversation(conv_id).leaf_id
            if leaf_id not in by_id:
                leaf_id = max(by_id)
        if leaf_id not in by_id:
            raise AssistantError(f"Message {leaf_id} is not in conversation {conv_id}.")
        path: list[MessageRecord] = []
        current: int | None = leaf_id
        while current is not None and current in by_id:
            path.append(by_id[current])
            current = by_id[current].parent_id
        return path[::-1]

    def children(self, message_id: int | None, conv_id: int) -> list[MessageRecord]:
        return [m for m in self.messages(conv_id) if m.parent_id == message_id]

    def siblings(self, message_id: int) -> list[MessageRecord]:
        """Messages with the same parent and role as ``message_id`` (itself included), oldest first."""
        msg = self.get_message(message_id)
        return [m for m in self.children(msg.parent_id, msg.conversation_id) if m.role == msg.role]

    def search(self, text: str, limit: int = 50) -> list[SearchHit]:
        query = fts_query(text)
        if not query:
            return []
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT m.conversation_id, m.id, c.title,"
                    " snippet(messages_fts, 0, '[', ']', '…', 12) AS snip"
                    " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
                    " JOIN conversations c ON c.id = m.conversation_id"
                    " WHERE messages_fts MATCH ? ORDER BY rank LIMIT ?", (query, limit),
                ).fetchall()
            except sqlite3.OperationalError as exc:
                raise AssistantError(f"Cannot search for {text!r} ({exc}); try plain words.") from exc
        return [SearchHit(r[0], r[1], r[2], r[3]) for r in rows]

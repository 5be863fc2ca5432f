"""The SQLite history: schema and migrations, branches, search, export, file mode, errors."""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.history.export import write_export
from assistant.history.store import MIGRATIONS, SCHEMA_VERSION, History, default_path, fts_query, statements
from models.errors import AssistantError


@pytest.fixture
def history() -> Iterator[History]:
    h = History()
    yield h
    h.close()


def _exchange(h: History, conv_id: int, prompt: str, reply: str, parent: int | None) -> tuple[int, int]:
    user = h.add_message(conv_id, "user", prompt, parent_id=parent)
    rec = h.start_reply(conv_id, parent_id=user.id, model="m")
    h.finish_reply(rec.id, reply, "eot", {"completion_tokens": len(reply.split())})
    return user.id, rec.id


def test_file_lives_in_data_dir_with_mode_0600_wal_and_schema(history: History, assistant_home: Path) -> None:
    assert history.path == default_path() == assistant_home / "data" / "history.sqlite3"
    conv = history.create_conversation(model="m", title="x")
    history.add_message(conv.id, "user", "hi", parent_id=None)
    assert stat.S_IMODE(history.path.stat().st_mode) == 0o600
    wal = history.path.with_name(history.path.name + "-wal")
    assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600
    db = sqlite3.connect(history.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert history._db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    db.close()


def test_loose_permissions_are_tightened_on_open(assistant_home: Path) -> None:
    path = assistant_home / "h.sqlite3"
    path.parent.mkdir(parents=True)
    path.touch(mode=0o644)
    path.chmod(0o644)
    History(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_conversations_round_trip_and_order(history: History) -> None:
    a = history.create_conversation(model="m1", system="be brief", params={"temperature": 0.2}, title="first")
    b = history.create_conversation(model="m2", title="second")
    assert [c.id for c in history.list_conversations()] == [b.id, a.id]
    history.add_message(a.id, "user", "bump", parent_id=None)  # a is now the most recently updated
    assert history.last_conversation().id == a.id  # type: ignore[union-attr]
    got = history.get_conversation(a.id)
    assert (got.title, got.model, got.system, got.params) == ("first", "m1", "be brief", {"temperature": 0.2})
    history.update_conversation(a.id, title="renamed", params={"top_k": 5})
    got = history.get_conversation(a.id)
    assert (got.title, got.system, got.params) == ("renamed", "be brief", {"top_k": 5})
    history.update_conversation(a.id, system=None, clear_system=True)
    assert history.get_conversation(a.id).system is None
    history.delete_conversation(a.id)
    assert [c.id for c in history.list_conversations()] == [b.id]
    assert history.messages(a.id) == []


def test_unknown_ids_are_one_sentence_errors(history: History) -> None:
    with pytest.raises(AssistantError, match=r"No conversation 42 .*assistant history list"):
        history.get_conversation(42)
    with pytest.raises(AssistantError, match="No conversation 42"):
        history.delete_conversation(42)
    with pytest.raises(AssistantError, match="No conversation 42"):
        history.update_conversation(42, title="x")
    with pytest.raises(AssistantError, match="No conversation 42"):
        history.add_message(42, "user", "x", parent_id=None)


def test_branches_threads_and_siblings(history: History) -> None:
    conv = history.create_conversation(model="m")
    u1, r1 = _exchange(history, conv.id, "one", "reply one", None)
    u2, r2 = _exchange(history, conv.id, "two", "reply two", r1)
    # regenerate the second reply: a sibling of r2
    r2b = history.start_reply(conv.id, parent_id=u2, model="m")
    history.finish_reply(r2b.id, "reply two again", "eot", {})
    assert [m.id for m in history.thread(conv.id)] == [u1, r1, u2, r2b.id]
    assert [m.id for m in history.thread(conv.id, r2)] == [u1, r1, u2, r2]
    assert [m.id for m in history.siblings(r2)] == [r2, r2b.id]
    # edit the first prompt: a sibling of u1 with its own reply
    u1b, r1b = _exchange(history, conv.id, "one, edited", "reply edited", None)
    assert [m.id for m in history.siblings(u1)] == [u1, u1b]
    assert [m.content for m in history.thread(conv.id)] == ["one, edited", "reply edited"]
    history.set_leaf(conv.id, r2)  # select the older branch; it is what thread() shows by default
    assert [m.id for m in history.thread(conv.id)] == [u1, r1, u2, r2]
    assert len(history.messages(conv.id)) == 7
    with pytest.raises(AssistantError, match="not in conversation"):
        history.thread(conv.id, 9999)


def test_streamed_reply_is_interrupted_until_finished(history: History) -> None:
    conv = history.create_conversation(model="m")
    user = history.add_message(conv.id, "user", "q", parent_id=None)
    rec = history.start_reply(conv.id, parent_id=user.id, model="m")
    assert rec.interrupted and rec.role == "assistant"
    history.update_reply(rec.id, "par")
    got = history.get_message(rec.id)
    assert (got.content, got.interrupted, got.finish_reason) == ("par", True, None)
    history.finish_reply(rec.id, "partial", "cancelled", {"completion_tokens": 1})
    got = history.get_message(rec.id)
    assert (got.content, got.interrupted, got.finish_reason, got.stats) == (
        "partial", False, "cancelled", {"completion_tokens": 1})


def test_full_text_search(history: History) -> None:
    a = history.create_conversation(model="m", title="Python lists")
    b = history.create_conversation(model="m", title="Cooking")
    _, ra = _exchange(history, a.id, "How do I reverse a list?", "Use reversed() or slicing: xs[::-1].", None)
    _exchange(history, b.id, "How long do I boil an egg?", "About nine minutes for a hard egg.", None)
    hits = history.search("reverse")  # the prompt, and "reversed" in the reply (prefix)
    assert {(h.conversation_id, h.title) for h in hits} == {(a.id, "Python lists")} and len(hits) == 2
    assert any("[reverse]" in h.snippet for h in hits) and any("[reversed]" in h.snippet for h in hits)
    assert {h.conversation_id for h in history.search("How")} == {a.id, b.id}
    assert [h.conversation_id for h in history.search("boil egg")] == [b.id]  # every word must match
    assert [h.message_id for h in history.search("slic")] == [ra]  # the last word is a prefix
    assert [h.message_id for h in history.search("xs[::-1]")] == [ra]  # punctuation is not FTS syntax
    assert history.search('xs[::-1] "quoted" AND (') == []
    assert history.search('"unbalanced') == []
    # updates and deletes reach the index
    rec = history.start_reply(a.id, parent_id=ra, model="m")
    history.update_reply(rec.id, "zebra")
    assert [h.message_id for h in history.search("zebra")] == [rec.id]
    history.finish_reply(rec.id, "giraffe", "eot", {})
    assert history.search("zebra") == [] and len(history.search("giraffe")) == 1
    history.delete_conversation(a.id)
    assert history.search("reverse") == [] and history.search("giraffe") == []
    assert history.search("   ") == []


def test_fts_query_quotes_words() -> None:
    assert fts_query('a "b" c') == '"a" """b""" "c"*'
    assert fts_query("one") == '"one"*'


def test_export_markdown_and_json(history: History, tmp_path: Path) -> None:
    conv = history.create_conversation(model="smol", system="Be kind.", params={"temperature": 0.5},
                                       title="Greeting")
    u, r = _exchange(history, conv.id, "Hello?", "Hi there!", None)
    history.start_reply(conv.id, parent_id=u, model="smol")  # a second branch, never finished
    history.set_leaf(conv.id, r)
    md = tmp_path / "c.md"
    write_export(history, conv.id, md)
    text = md.read_text()
    assert text.startswith("# Greeting\n")
    assert "## System\n\nBe kind." in text and "## You\n\nHello?" in text
    assert "## Assistant (m)\n\nHi there!" in text  # a reply by another model than the conversation's
    js = tmp_path / "c.JSON"
    write_export(history, conv.id, js)
    data = json.loads(js.read_text())
    assert data["title"] == "Greeting" and data["system"] == "Be kind." and data["params"] == {"temperature": 0.5}
    assert [(m["role"], m["content"]) for m in data["messages"]] == [("user", "Hello?"), ("assistant", "Hi there!")]
    # the unfinished branch, exported explicitly, says so
    other = history.siblings(r)[-1].id
    write_export(history, conv.id, md, leaf_id=other)
    assert "interrupted" in md.read_text()


def test_export_errors_leave_no_file(history: History, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    conv = history.create_conversation(model="m")
    with pytest.raises(AssistantError, match=r"\.md .*\.json"):
        write_export(history, conv.id, tmp_path / "c.txt")
    with pytest.raises(AssistantError, match="does not exist"):
        write_export(history, conv.id, tmp_path / "missing" / "c.md")
    with pytest.raises(AssistantError, match="No conversation 77"):
        write_export(history, 77, tmp_path / "c.md")
    assert list(tmp_path.iterdir()) == []


OLD_ROWS = [
    "INSERT INTO conversations(id, title, created, updated, model, system, params)"
    " VALUES (1, 'old chat', 1.0, 2.0, 'smol', 'sys', '{\"temperature\": 0.1}')",
    "INSERT INTO messages(id, conversation_id, parent_id, role, content, model, created, finish_reason, stats)"
    " VALUES (1, 1, NULL, 'user', 'remember the aardvark', NULL, 1.0, NULL, '{}')",
    "INSERT INTO messages(id, conversation_id, parent_id, role, content, model, created, finish_reason, stats)"
    " VALUES (2, 1, 1, 'assistant', 'noted', 'smol', 2.0, 'eot', '{}')",
]


def test_migrates_a_version_1_database(assistant_home: Path) -> None:
    path = assistant_home / "old.sqlite3"
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    for statement in statements(MIGRATIONS[0]):
        db.execute(statement)
    for statement in OLD_ROWS:
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    h = History(path)
    assert h._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conv = h.get_conversation(1)
    assert (conv.title, conv.params, conv.leaf_id) == ("old chat", {"temperature": 0.1}, None)
    assert [(m.content, m.interrupted) for m in h.thread(1)] == [("remember the aardvark", False), ("noted", False)]
    assert [hit.message_id for hit in h.search("aardvark")] == [1]  # old rows were indexed
    _exchange(h, 1, "and now?", "still here", 2)
    assert len(h.thread(1)) == 4
    h.close()
    History(path).close()  # opening again is a no-op


def test_newer_schema_is_refused(assistant_home: Path) -> None:
    path = assistant_home / "new.sqlite3"
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(AssistantError, match="newer version of assistant"):
        History(path)


def test_corrupt_file_is_one_sentence(assistant_home: Path) -> None:
    path = assistant_home / "bad.sqlite3"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(AssistantError, match="move it aside"):
        History(path)


def test_delete_message_moves_the_leaf_back(history: History) -> None:
    conv = history.create_conversation(model="m")
    u = history.add_message(conv.id, "user", "q", parent_id=None)
    rec = history.start_reply(conv.id, parent_id=u.id, model="m")
    history.delete_message(rec.id)
    assert history.get_conversation(conv.id).leaf_id == u.id
    assert [m.id for m in history.thread(conv.id)] == [u.id]

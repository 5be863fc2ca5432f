"""The history survives ``kill -9`` mid-reply and concurrent writers from several processes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from assistant.history.store import History

REPO = Path(__file__).resolve().parents[3]

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from assistant.engine.base import GenerationParams
    from assistant.engine.fake import FakeEngine
    from assistant.history.store import History
    from assistant.session.chat import ChatSession

    def reply_for(n):
        return " ".join(f"w{n}_{j}" for j in range(40))

    db, start = Path(sys.argv[1]), int(sys.argv[2])
    history = History(db)
    engine = FakeEngine(delay=0.003)
    session = ChatSession(engine, history, model="fake", params=GenerationParams(), save_interval=0.03)
    print("ready", flush=True)
    for n in range(start, start + 1000):
        engine.queue(reply_for(n))
        for chunk in session.send(f"p{n}"):
            pass
        print(f"done {session.leaf_id}", flush=True)
""")


def reply_for(n: int) -> str:
    return " ".join(f"w{n}_{j}" for j in range(40))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_kill_9_during_replies_loses_no_completed_message(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    db = tmp_path / "history.sqlite3"
    rng = random.Random(1234)
    completed: list[int] = []
    partial_seen = 0
    for trial in range(20):
        proc = subprocess.Popen([sys.executable, str(script), str(db), str(trial * 1000)], stdout=subprocess.PIPE,
                                text=True, env=_env(), cwd=REPO)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        completed += [int(line.split()[1]) for line in out.splitlines() if line.startswith("done ")]
        # after every crash the database opens, and everything so far is intact
        with History(db) as h:
            interrupted = 0
            for conv in h.list_conversations():
                msgs = h.messages(conv.id)
                for user, reply in zip(msgs[::2], msgs[1::2]):
                    n = int(user.content[1:])
                    assert (user.role, reply.role, reply.parent_id) == ("user", "assistant", user.id)
                    if reply.interrupted:
                        interrupted += 1
                        assert reply_for(n).startswith(reply.content)
                        partial_seen += bool(reply.content)
                    else:
                        assert (reply.content, reply.finish_reason) == (reply_for(n), "eot")
            assert interrupted <= trial + 1
            for msg_id in completed:
                msg = h.get_message(msg_id)
                assert not msg.interrupted and msg.finish_reason == "eot" and msg.content.startswith("w")
    assert len(completed) >= 5  # the trials did complete replies (and every one was kept, above)
    assert partial_seen >= 1  # some kill landed mid-reply after a partial save


# Child processes start together once all are ready (a cold start can take seconds): each touches a
# file in the folder argv[1] and waits until argv[2] files are there.
READY_TOGETHER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from assistant.history.store import History

    sync, together = Path(sys.argv[1]), int(sys.argv[2])
    (sync / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(sync.iterdir())) < together:
        if time.monotonic() > deadline:
            sys.exit("the other processes never started")
        time.sleep(0.0005)
""")

CONCURRENT = READY_TOGETHER + textwrap.dedent("""
    db, tag, n = Path(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    history = History(db)  # both open a database that does not exist yet, at the same moment
    conv = None
    for i in range(n):
        if i % 25 == 0:
            conv = history.create_conversation(model=tag, title=f"{tag} {i}")
        user = history.add_message(conv.id, "user", f"{tag} question {i}", parent_id=None)
        reply = history.start_reply(conv.id, parent_id=user.id, model=tag)
        history.update_reply(reply.id, f"{tag} partial {i}")
        history.finish_reply(reply.id, f"{tag} answer {i}", "eot", {"i": i})
        if i % 50 == 0:
            history.search(f"{tag}")
            history.list_conversations()
    print("ok", flush=True)
""")


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    script = tmp_path / "concurrent.py"
    script.write_text(CONCURRENT)
    db = tmp_path / "shared.sqlite3"
    n = 250
    sync = tmp_path / "ready"  # each writer starts once both are ready (a cold start can take seconds)
    sync.mkdir()
    procs = [subprocess.Popen([sys.executable, str(script), str(sync), "2", str(db), tag, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO)
             for tag in ("alpha", "beta")]
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, results):
        assert "locked" not in err.lower()
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    with History(db) as h:
        ids = {tag: [m.id for c in h.list_conversations(limit=1000) if c.model == tag for m in h.messages(c.id)]
               for tag in ("alpha", "beta")}
        assert min(ids["alpha"]) < max(ids["beta"]) and min(ids["beta"]) < max(ids["alpha"])  # they overlapped
        for tag in ("alpha", "beta"):
            convs = [c for c in h.list_conversations(limit=1000) if c.model == tag]
            assert len(convs) == n // 25
            msgs = [m for c in convs for m in h.messages(c.id)]
            answers = sorted(int(m.content.split()[-1]) for m in msgs if m.role == "assistant")
            assert answers == list(range(n))
            assert all(not m.interrupted and m.content.startswith(f"{tag} answer") for m in msgs
                       if m.role == "assistant")
            assert sum(m.role == "user" for m in msgs) == n


OPENER = READY_TOGETHER + textwrap.dedent("""
    db = Path(sys.argv[3])
    with History(db) as history:  # a database that does not exist yet: switching it to WAL races
        for _ in range(5):
            history.create_conversation(model="m")
""")


def test_programs_opening_a_new_history_at_the_same_moment(tmp_path: Path) -> None:
    script = tmp_path / "opener.py"
    script.write_text(OPENER)
    for round_ in range(8):
        db = tmp_path / f"fresh{round_}.sqlite3"
        sync = tmp_path / f"ready{round_}"
        sync.mkdir()
        procs = [subprocess.Popen([sys.executable, str(script), str(sync), "3", str(db)], stderr=subprocess.PIPE,
                                  text=True, env=_env(), cwd=REPO) for _ in range(3)]
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), errors
        assert not any("locked" in e for e in errors)
        with History(db) as h:
            assert len(h.list_conversations()) == 15

"""The real app on the real default model, driven in tmux like a person would: type a question, see
the answer stream, quit, reopen, and the conversation is still there. Polls ``capture-pane`` with
time limits; no fixed sleeps decide the outcome."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assistant.history.store import History

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

ASSISTANT = Path(sys.executable).parent / "assistant"
QUESTION = "What is the capital of France?"


class Tmux:
    def __init__(self) -> None:
        self.socket = f"assistant-test-{uuid.uuid4().hex[:8]}"
        self.session = "chat"

    def run(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        return out.stdout

    def start(self, command: str) -> None:
        self.run("kill-session", "-t", self.session)
        self.run("new-session", "-d", "-s", self.session, "-x", "100", "-y", "30", command)
        self.run("set-option", "-g", "escape-time", "10")

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def wait(self, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; the screen was:\n{screen}")

    def close(self) -> None:
        self.run("kill-server")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux()
    yield t
    t.close()


def status_line(screen: str) -> str:
    lines = [line for line in screen.splitlines() if "ctx" in line or "loading" in line]
    return lines[-1] if lines else ""


def test_chat_in_tmux_streams_and_remembers(tmux: Tmux, assistant_home: Path) -> None:
    env = f"ASSISTANT_HOME={assistant_home} ASSISTANT_SHARED_CACHE={os.environ['ASSISTANT_SHARED_CACHE']}"
    command = f"env {env} {ASSISTANT} chat --temperature 0 --max-tokens 16 --ctx-size 1024; echo APP-EXITED-$?; sleep 60"
    tmux.start(command)
    tmux.wait(lambda s: "Message (Enter sends" in s, 30, "the first paint")
    tmux.wait(lambda s: "CPU" in status_line(s) or "CUDA" in status_line(s) or "Metal" in status_line(s), 120,
              "the model to load")
    tmux.keys(QUESTION, "Enter")
    seen_generating = False
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        screen = tmux.screen()
        if "generating" in status_line(screen):
            seen_generating = True
        if seen_generating and "tok/s" in status_line(screen) and "idle" in status_line(screen):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"no finished reply on screen:\n{tmux.screen()}")
    assert seen_generating, "the status line never showed the reply being generated"
    with History() as history:
        conv = history.last_conversation()
        assert conv is not None and conv.title == QUESTION
        thread = history.thread(conv.id)
    assert [m.role for m in thread] == ["user", "assistant"]
    answer = thread[-1].content.strip()
    assert answer and thread[-1].finish_reason in ("eot", "length")
    first_words = " ".join(answer.split()[:3])
    screen = tmux.screen()
    assert first_words in " ".join(screen.split()), f"{first_words!r} is not on the screen:\n{screen}"
    assert "llama_" not in screen and "ggml" not in screen  # llama.cpp's log stays off the screen
    tmux.keys("C-q")
    tmux.wait(lambda s: "APP-EXITED-0" in s, 30, "the app to quit")

    tmux.start(f"env {env} {ASSISTANT} chat; echo APP-EXITED-$?; sleep 60")
    screen = tmux.wait(lambda s: QUESTION in s and first_words in " ".join(s.split()), 30,
                       "the conversation to come back")
    tmux.keys("C-q")
    tmux.wait(lambda s: "APP-EXITED-0" in s, 30, "the app to quit")

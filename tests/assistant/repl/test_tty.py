"""The REPL in a real terminal (pexpect) on the bundled model: completion, Ctrl+C, /retry, Ctrl+D."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from assistant.history.store import History

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]


def test_terminal_session_ctrl_c_stops_the_reply_and_ctrl_d_quits() -> None:
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "PYTHONPATH": str(REPO)}
    child = pexpect.spawn(sys.executable, ["-m", "assistant", "chat", "--plain", "--temperature", "0", "-n", "400",
                                           "--ctx-size", "1024"], env=env, cwd=str(REPO), encoding="utf-8",
                          timeout=180, dimensions=(40, 120))
    child.expect("Ctrl\\+D quits")
    child.expect(">>>")
    child.send("/ret\t")  # Tab completes the command name
    child.expect("/retry")
    child.send("\x15")  # Ctrl+U clears the line
    child.sendline("Write a long story about a cat who learns to sail.")
    child.expect_exact("\x1b[?2004l")  # prompt-toolkit hands the terminal back: the reply starts
    child.expect("[A-Za-z]{3,}")  # its first word
    child.send("\x03")
    child.expect("stopped; the reply so far is saved")
    child.expect(">>>")
    child.sendline("/set max_tokens 6")
    child.expect("max_tokens = 6")
    child.sendline("/retry")
    child.expect("reply 2 of 2")
    child.send("\x04")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    with History() as h:
        conv = h.list_conversations()[0]
        first, second = [m for m in h.messages(conv.id) if m.role == "assistant"]
    assert first.finish_reason == "cancelled" and not first.interrupted and first.content
    assert second.finish_reason == "length" and second.parent_id == first.parent_id

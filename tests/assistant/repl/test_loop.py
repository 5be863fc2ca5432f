"""The plain REPL driven through prompt-toolkit's pipe input, on the FakeEngine."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from assistant.engine.base import GenerationParams, LoadOptions, Stats
from assistant.engine.fake import FakeEngine, ScriptedReply
from assistant.history.store import History
from assistant.repl.commands import SlashCompleter, parse, unknown_hint
from assistant.repl.loop import input_history_path, run_repl
from assistant.session.config import ChatOptions, SessionConfig
from models.errors import AssistantError, ModelNotFound
from models.resolve import ResolvedModel

ENTER = "\r"
ALT_ENTER = "\x1b\r"
CTRL_D = "\x04"


class Loader:
    """Model name -> a FakeEngine with scripted replies (what real_loader does with llama.cpp)."""

    def __init__(self, replies: dict[str, list[Any]], system: dict[str, str] | None = None,
                 params: dict[str, GenerationParams] | None = None, delay: float = 0.0) -> None:
        self.replies = replies
        self.system = system or {}
        self.params = params or {}
        self.delay = delay
        self.engines: list[FakeEngine] = []

    def knows(self, name: str) -> bool:
        return name in self.replies

    def __call__(self, name: str | None) -> tuple[FakeEngine, SessionConfig]:
        name = name or "fake-a"
        if name not in self.replies:
            raise ModelNotFound(f"Unknown model {name!r}; known models: {', '.join(self.replies)}.")
        engine = FakeEngine(self.replies[name], delay=self.delay, name=name)
        engine.load(name)
        self.engines.append(engine)
        cfg = SessionConfig(ResolvedModel(name, Path("/dev/null"), "store"), LoadOptions(),
                            self.params.get(name, GenerationParams()), self.system.get(name))
        return engine, cfg


def drive(keys: str, loader: Loader, flags: dict[str, Any] | None = None, **kw: Any) -> str:
    out = io.StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        run_repl(ChatOptions(**(flags or {})), loader=loader, exists=loader.knows, out=out, input=pipe,
                 output=DummyOutput(), **kw)
    return out.getvalue()


def only_conversation() -> tuple[int, list[tuple[str, str]]]:
    with History() as h:
        convs = h.list_conversations()
        assert len(convs) == 1
        return convs[0].id, [(m.role, m.content) for m in h.thread(convs[0].id)]


def test_chat_is_streamed_and_saved_and_ctrl_d_quits() -> None:
    loader = Loader({"fake-a": ["Paris is the capital.", "About two million people."]})
    out = drive("What is the capital of France?" + ENTER + "How many live there?" + ENTER + CTRL_D, loader)
    assert "fake-a · CPU · 2048-token context" in out
    assert "Paris is the capital.\n" in out and "About two million people.\n" in out
    conv_id, thread = only_conversation()
    assert thread == [("user", "What is the capital of France?"), ("assistant", "Paris is the capital."),
                      ("user", "How many live there?"), ("assistant", "About two million people.")]
    sent = loader.engines[0].calls[-1][0]  # the follow-up carried the first exchange
    assert [m.content for m in sent][:2] == ["What is the capital of France?", "Paris is the capital."]
    assert input_history_path().read_text().count("+What is the capital") == 1  # input history persists
    assert oct(input_history_path().stat().st_mode)[-3:] == "600"


def test_alt_enter_makes_a_multi_line_message() -> None:
    loader = Loader({"fake-a": ["ok"]})
    drive("line one" + ALT_ENTER + "line two" + ENTER + "/quit" + ENTER, loader)
    _, thread = only_conversation()
    assert thread[0] == ("user", "line one\nline two")


def test_slash_commands(tmp_path: Path) -> None:
    loader = Loader({"fake-a": ["first answer", "second answer", "third"], "fake-b": ["from b"]},
                    system={"fake-b": "B's own system prompt."})
    export = tmp_path / "chat.md"
    keys = [
        "/help", "/params", "/set temperature 0.25", "/set top_k lots", "/system Be terse.", "/system",
        "hello", "/retry", f"/export {export}", f"/export {tmp_path / 'chat.json'}", "/history",
        "/model fake-b", "/model nope", "and you?", "/frobnicate", "/hel", "//etc is a folder", "/new",
        "fresh start", "/open 1", "/quit",
    ]
    out = drive(ENTER.join(keys) + ENTER, loader)
    assert "/retry" in out and "Alt+Enter" in out  # the help
    assert "temperature     0.8" in out  # /params before /set
    assert "[temperature = 0.25]" in out
    assert "Error: top_k needs a whole number, not 'lots'." in out
    assert "[system prompt set]" in out and "\nBe terse.\n" in out
    assert "first answer\n" in out and "second answer\n" in out
    assert "[reply 2 of 2; the earlier ones are kept as branches]" in out
    assert "Unknown command /frobnicate; /help lists the commands" in out
    assert "Unknown command /hel (did you mean /help?)" in out
    assert "Error: Unknown model 'nope'" in out and "[now chatting with fake-b]" in out
    text = export.read_text()
    assert "## System\n\nBe terse." in text and "second answer" in text and "first answer" not in text
    data = json.loads((tmp_path / "chat.json").read_text())
    assert [m["content"] for m in data["messages"]] == ["hello", "second answer"]
    with History() as h:
        convs = {c.id: c for c in h.list_conversations()}
        assert len(convs) == 2  # /new started the second
        assert [m.content for m in h.thread(1)] == ["hello", "second answer", "and you?", "from b",
                                                   "/etc is a folder", "You said: /etc is a folder"]
        assert [m.content for m in h.thread(2)] == ["fresh start", "You said: fresh start"]
        assert convs[1].model == "fake-b" and h.thread(1)[1].model == "fake-a"
        assert convs[1].params["temperature"] == 0.25 and convs[1].system == "Be terse."  # /set and /system kept
    engine_b = loader.engines[1]
    assert engine_b.calls[0][1].temperature == 0.25  # the /set survives /model
    assert engine_b.calls[0][0][0].content == "Be terse."  # and so does the chosen system prompt
    assert "[conversation 1: hello" in out  # /open printed the thread


def test_continue_the_last_conversation_and_open_by_id() -> None:
    drive("remember 42" + ENTER + CTRL_D, Loader({"fake-a": ["one"]}))
    loader = Loader({"fake-a": ["two"]})
    out = drive("what number?" + ENTER + CTRL_D, loader, continue_=True)
    assert "[conversation 1: remember 42, 2 messages]" in out and "one\n" in out
    _, thread = only_conversation()
    assert [c for _, c in thread] == ["remember 42", "one", "what number?", "two"]
    assert [m.content for m in loader.engines[-1].calls[-1][0]] == ["remember 42", "one", "what number?"]
    out = drive("again" + ENTER + CTRL_D, loader, conversation_id=1)
    assert len(only_conversation()[1]) == 6
    with pytest.raises(AssistantError, match="No conversation 9"):
        drive(CTRL_D, loader, conversation_id=9)


def test_a_conversation_whose_model_is_gone_continues_on_the_default() -> None:
    with History() as h:
        conv = h.create_conversation(model="fake-gone", title="old")
        h.add_message(conv.id, "user", "hi", parent_id=None)
    out = drive("still there?" + ENTER + CTRL_D, Loader({"fake-a": ["yes"]}), continue_=True)
    assert "[fake-gone is no longer installed; continuing with fake-a]" in out and "yes\n" in out
    with pytest.raises(ModelNotFound, match="Unknown model 'fake-gone'"):  # asked for by name: an error
        drive(CTRL_D, Loader({"fake-a": []}), flags={"model": "fake-gone"})


def test_continue_with_nothing_saved_is_one_sentence() -> None:
    with pytest.raises(AssistantError, match="no saved conversation to continue"):
        drive(CTRL_D, Loader({"fake-a": []}), continue_=True)


def test_flags_override_what_the_conversation_saved() -> None:
    loader = Loader({"fake-a": ["a", "b"]})
    drive("/set temperature 0.1" + ENTER + "hi" + ENTER + CTRL_D, loader)
    drive("more" + ENTER + CTRL_D, loader, flags={"temperature": 0.9}, continue_=True)
    assert loader.engines[-1].calls[-1][1].temperature == 0.9
    drive("more" + ENTER + CTRL_D, loader, continue_=True)  # without the flag: the saved 0.9
    assert loader.engines[-1].calls[-1][1].temperature == 0.9


def test_ctrl_c_stops_the_reply_not_the_program() -> None:
    loader = Loader({"fake-a": [" ".join(f"w{i}" for i in range(200)), "next one"]}, delay=0.01)
    timer = threading.Timer(0.4, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        out = drive("count" + ENTER + "still there?" + ENTER + CTRL_D, loader)
    finally:
        timer.cancel()
    assert "[stopped; the reply so far is saved]" in out and "next one\n" in out
    _, thread = only_conversation()
    assert 0 < len(thread[1][1].split()) < 200 and thread[3] == ("assistant", "next one")
    with History() as h:
        assert h.thread(1)[1].finish_reason == "cancelled" and not h.thread(1)[1].interrupted


def test_dropped_turns_and_length_are_reported() -> None:
    class Dropping(FakeEngine):
        def stream(self, messages, params=None):  # type: ignore[no-untyped-def]
            yield from ()
            from assistant.engine.base import Chunk

            yield Chunk("partial")
            yield Chunk("", finish_reason="length", stats=Stats(dropped_turns=3, n_ctx=512))

    class DroppingLoader(Loader):
        def __call__(self, name: str | None) -> tuple[FakeEngine, SessionConfig]:
            engine, cfg = super().__call__(name)
            dropping = Dropping(name="fake-a")
            dropping.load("fake-a")
            return dropping, cfg

    out = drive("hi" + ENTER + CTRL_D, DroppingLoader({"fake-a": []}))
    assert "[3 oldest turns left out to fit the 512-token context]" in out
    assert "[cut off at the token limit" in out


def test_engine_errors_keep_the_repl_running() -> None:
    loader = Loader({"fake-a": [ScriptedReply("", error="The message is too long for the context."), "fine"]})
    out = drive("x" + ENTER + "/retry" + ENTER + CTRL_D, loader)
    assert "Error: The message is too long for the context." in out and "fine\n" in out
    assert only_conversation()[1] == [("user", "x"), ("assistant", "fine")]
    out = drive("/export /nonexistent-dir/x.md" + ENTER + "/export x.txt" + ENTER + CTRL_D, loader, continue_=True)
    assert "Error: The folder /nonexistent-dir does not exist" in out and "Error: Cannot export to x.txt" in out


def test_parse_and_hints() -> None:
    assert parse("hello /set") is None and parse("//x") is None
    assert parse("/SET top_k 5") == ("/set", "top_k 5") and parse("/bye") == ("/quit", "")
    assert "did you mean /retry?" in unknown_hint("/ret")


def test_completion_of_commands_params_models_and_ids() -> None:
    completer = SlashCompleter(["temperature", "top_p", "top_k"], lambda: ["smol", "gemma"], lambda: [(7, "Greeting")])

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), None)]  # type: ignore[arg-type]

    assert complete("/") [:3] == ["/new", "/system", "/model"]
    assert complete("/re") == ["/retry"] and complete("/h") == ["/history", "/help"]
    assert complete("/set top") == ["top_p", "top_k"]
    assert complete("/model g") == ["gemma"] and complete("/open ") == ["7"]
    assert complete("hello") == [] and complete("/set top_k 5") == []


def test_input_that_is_not_a_terminal_is_read_line_by_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"first\n/retry\n/export {tmp_path / 'c.md'}\n/quit\nnever sent\n"))
    out = io.StringIO()
    run_repl(ChatOptions(), loader=Loader({"fake-a": ["one", "two"]}), out=out)
    assert "one\n" in out.getvalue() and "two\n" in out.getvalue()
    assert only_conversation()[1] == [("user", "first"), ("assistant", "two")]
    assert "two" in (tmp_path / "c.md").read_text()


SIGTERM_SCRIPT = """
import io, sys
from pathlib import Path
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from tests.assistant.repl.test_loop import Loader
from assistant.repl.loop import run_repl
from assistant.session.config import ChatOptions

class Flushing(io.TextIOBase):
    def write(self, s):
        sys.stdout.write(s); sys.stdout.flush(); return len(s)

with create_pipe_input() as pipe:
    pipe.send_text("tell me\\r")
    run_repl(ChatOptions(), loader=Loader({"fake-a": [" ".join(f"w{i}" for i in range(500))]}, delay=0.01),
             out=Flushing(), input=pipe, output=DummyOutput())
"""


def test_sigterm_mid_reply_saves_the_text_so_far(tmp_path: Path) -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_SCRIPT], stdout=subprocess.PIPE, bufsize=0, cwd=repo,
                            env={**os.environ, "PYTHONPATH": str(repo)})
    assert proc.stdout is not None
    seen = b""
    while b"w5 " not in seen:  # a few words streamed, well inside the first save interval
        byte = os.read(proc.stdout.fileno(), 1)
        assert byte, f"the REPL exited before streaming: {proc.communicate(timeout=30)}"
        seen += byte
    proc.terminate()
    rest = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 128 + signal.SIGTERM
    printed = (seen.decode() + rest).split("]\n", 1)[1]  # after the banner line
    with History() as h:
        reply = h.thread(only_conversation()[0])[-1]
    # the reply stopped, was saved whole (everything printed, and no more than the next word), then the REPL exited
    assert "[stopped; the reply so far is saved]" in printed
    text = printed.split("\n[stopped")[0].strip()
    assert reply.content.startswith(text) and len(reply.content.split()) <= len(text.split()) + 1
    assert reply.finish_reason == "cancelled" and not reply.interrupted

"""``assistant ask`` with the history: each exchange is saved as a conversation, and ``-c`` continues
the last conversation (from ``ask``, the REPL or the app) from the shell."""

from __future__ import annotations

import contextlib
import sys
from typing import IO, TYPE_CHECKING, Any

from assistant.ask.answer import json_result
from assistant.engine.base import Chunk
from assistant.history.store import History
from assistant.session.chat import ChatSession
from assistant.session.config import ChatOptions

if TYPE_CHECKING:
    from assistant.session.tool_turns import ToolOptions, ToolRunner


def run_ask_saved(text: str, opts: ChatOptions, *, continue_: bool, stream: bool, out: IO[str],
                  tools: ToolOptions | None = None) -> dict[str, Any]:
    """One exchange, saved; with ``tools`` (``--tool``), the model may call them: each call is shown on
    stderr and asked about on the terminal (``--yes``: allowed without asking)."""
    from assistant.session.config import session_config
    from assistant.session.resume import find_conversation, reopen, resume
    from assistant.session.start import start_engine

    history = History()
    try:
        conv = find_conversation(history, None, continue_, start_hint='`assistant ask "Hi"` (without -c)')
        plan = resume(opts, conv)
        cfg = session_config(plan.options)
        note = plan.note(cfg.model.name)
        if note:
            print(f"Note: {note}", file=sys.stderr)
        engine = start_engine(cfg)
        session = ChatSession(engine, history, model=cfg.model.name, params=cfg.params, system=cfg.system)
        if conv is not None:
            reopen(session, conv.id, opts)
        if tools is not None:
            session.tools = start_tools(tools)
        parts: list[str] = []
        calls: list[dict[str, Any]] = []
        last = Chunk("")
        try:
            with contextlib.closing(session.send(text)) as chunks:
                for chunk in chunks:
                    parts.append(chunk.text)
                    if chunk.finish_reason is not None:
                        last = chunk
                    if stream and chunk.text:
                        out.write(chunk.text)
                        out.flush()
                    if chunk.event is not None:
                        show_event(chunk.event, calls, out if stream else None)
        except KeyboardInterrupt:  # the session saved the reply so far as stopped
            if stream:
                out.write("\n")
            raise
        finally:
            if session.tools is not None:
                session.tools.close()
            engine.close()
    finally:
        history.close()
    if stream:
        out.write("\n")
        out.flush()
    result = {**json_result(parts, last, cfg),
              "conversation_id": session.conversation.id if session.conversation else None}
    if tools is not None:
        result["tool_calls"] = calls
    return result


def start_tools(options: ToolOptions) -> ToolRunner:
    """The tools of this run; the approval question goes to the terminal (not stdin, which may be the prompt)."""
    from assistant.repl.tool_view import terminal_ask
    from assistant.session.tool_turns import ToolRunner

    runner = ToolRunner.start(options, terminal_ask(read_tty, lambda line: print(line, file=sys.stderr)))
    for note in runner.notes:
        print(f"Note: {note}", file=sys.stderr)
    return runner


def read_tty(prompt: str) -> str:
    """An answer from the controlling terminal; none (a script, CI): the call is denied."""
    try:
        with open("/dev/tty", "r+", encoding="utf-8") as tty:
            tty.write(prompt)
            tty.flush()
            return tty.readline().strip() or "y"
    except OSError:
        print(prompt + "n (no terminal to ask on: denied; pass --yes to allow the calls)", file=sys.stderr)
        return "n"


def show_event(event: Any, calls: list[dict[str, Any]], out: IO[str] | None) -> None:
    """A call and its result on stderr (stdout keeps the answer only), and in ``--json``'s ``tool_calls``."""
    from assistant.repl.tool_view import call_line, result_lines
    from assistant.session.tool_turns import ToolCallDone, ToolCallShown

    if out is not None:
        out.flush()
    if isinstance(event, ToolCallShown):
        print(call_line(event.call.name, event.call.arguments, event.error), file=sys.stderr)
    elif isinstance(event, ToolCallDone):
        r = event.result
        print(result_lines(event.call.name, r.content, r.is_error, r.seconds), file=sys.stderr)
        calls.append({"id": event.call.id, "name": event.call.name, "arguments": event.call.arguments,
                      "result": r.content, "is_error": r.is_error, "seconds": round(r.seconds, 3)})

"""The conversation logic that the REPL, the app and ``ask`` drive: one thread in the history tree,
an engine, sampling params and a system prompt. Every message is saved; a reply is saved as it
grows (every ``save_interval`` seconds) and when it ends, however it ends."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from assistant.engine.base import ChatEngine, Chunk, GenerationParams, Message
from assistant.history.store import Conversation, History, MessageRecord
from models.errors import AssistantError

if TYPE_CHECKING:
    from assistant.session.tool_turns import ToolRunner

SAVE_INTERVAL = 0.5  # seconds between saves of a growing reply
TITLE_CHARS = 60

# name -> (type, lowest, highest, may be "none")
PARAM_SPECS: dict[str, tuple[type, float | None, float | None, bool]] = {
    "temperature": (float, 0.0, None, False),
    "top_p": (float, 0.0, 1.0, False),
    "top_k": (int, 0, None, False),
    "min_p": (float, 0.0, 1.0, False),
    "repeat_penalty": (float, 0.0, None, False),
    "max_tokens": (int, 1, None, True),
    "seed": (int, None, None, True),
}


def make_title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def params_to_dict(params: GenerationParams) -> dict[str, Any]:
    return {k: getattr(params, k) for k in GenerationParams.SAMPLING_KEYS}


def parse_param(name: str, value: str) -> tuple[str, Any]:
    """``/set top-p 0.9`` -> ("top_p", 0.9); one sentence for a bad name or value."""
    key = name.strip().lower().replace("-", "_")
    if key not in PARAM_SPECS:
        raise AssistantError(f"Unknown parameter {name!r}; use one of {', '.join(PARAM_SPECS)}.")
    kind, low, high, nullable = PARAM_SPECS[key]
    text = value.strip()
    if nullable and text.lower() in ("none", "off", "default", ""):
        return key, None
    try:
        number: Any = kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise AssistantError(f"{key} needs {what}, not {value!r}.") from None
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise AssistantError(f"{key} must be {bounds}, not {value}.")
    return key, number


class ChatSession:
    def __init__(self, engine: ChatEngine, history: History, *, model: str, params: GenerationParams,
                 system: str | None = None, conversation_id: int | None = None,
                 save_interval: float = SAVE_INTERVAL) -> None:
        self.engine = engine
        self.history = history
        self.model = model
        self.params = params
        self.system = system
        self.save_interval = save_interval
        self.conversation: Conversation | None = None
        self.leaf_id: int | None = None
        self.last_dropped_turns = 0
        self.last_finish_reason: str | None = None
        self.last_stats: dict[str, Any] = {}
        self._cancelled = False
        self.tools: ToolRunner | None = None  # tools on for this chat (app, REPL, ask --tool)
        self.restored = False  # the last open() restored the engine's saved state of the conversation
        if conversation_id is not None:
            self.open(conversation_id)

    # -- state ----------------------------------------------------------------------------------
    def thread(self) -> list[MessageRecord]:
        if self.conversation is None or self.leaf_id is None:
            return []
        return self.history.thread(self.conversation.id, self.leaf_id)

    def new_conversation(self) -> None:
        self.conversation = None
        self.leaf_id = None
        self.last_dropped_turns = 0

    def open(self, conv_id: int) -> None:
        """Continue a saved conversation: its thread, system prompt and sampling params."""
        conv = self.history.get_conversation(conv_id)
        self.conversation = conv
        thread = self.history.thread(conv_id)
        self.leaf_id = thread[-1].id if thread else None
        self.system = conv.system
        saved = {k: v for k, v in conv.params.items() if k in GenerationParams.SAMPLING_KEYS}
        self.params = dataclasses.replace(self.params, **saved)
        self.last_dropped_turns = 0
        self.restored = self._restore_state()

    def _restore_state(self) -> bool:
        """Put back the engine's saved KV state for this conversation (engines that keep one)."""
        restore = getattr(self.engine, "restore_state", None)
        if restore is None or self.conversation is None:
            return False
        try:
            return bool(restore(str(self.conversation.id)))
        except AssistantError:
            return False

    def _save_state(self) -> None:
        save = getattr(self.engine, "save_state", None)
        if save is not None and self.conversation is not None and self.last_finish_reason != "cancelled":
            with contextlib.suppress(AssistantError):
                save(str(self.conversation.id))

    def set_system(self, text: str | None) -> None:
        self.system = text or None
        if self.conversation is not None:
            self.history.update_conversation(self.conversation.id, system=self.system, clear_system=True)
            self.conversation.system = self.system

    def set_param(self, name: str, value: str) -> None:
        key, parsed = parse_param(name, value)
        self.params = dataclasses.replace(self.params, **{key: parsed})
        if self.conversation is not None:
            self.conversation.params = params_to_dict(self.params)
            self.history.update_conversation(self.conversation.id, params=self.conversation.params)

    def set_params(self, params: GenerationParams) -> None:
        """Replace every sampling parameter at once (saved with the conversation)."""
        self.params = params
        if self.conversation is not None:
            self.conversation.params = params_to_dict(self.params)
            self.history.update_conversation(self.conversation.id, params=self.conversation.params)

    def switch_model(self, engine: ChatEngine, model: str) -> None:
        self.engine = engine
        self.model = model
        if self.conversation is not None:
            self.history.update_conversation(self.conversation.id, model=model)
            self.conversation.model = model

    def cancel(self) -> None:
        """Stop the reply being generated; it is saved with finish_reason ``cancelled``."""
        self._cancelled = True
        self.engine.cancel()

    # -- turns ----------------------------------------------------------------------------------
    def _ensure_conversation(self, first_prompt: str) -> Conversation:
        if self.conversation is None:
            self.conversation = self.history.create_conversation(
                model=self.model, system=self.system, params=params_to_dict(self.params),
                title=make_title(first_prompt),
            )
        return self.conversation

    def _check_input(self, text: str) -> None:
        """A message that cannot fit the context is refused before it is saved or tokenized."""
        check = getattr(self.engine, "check_input", None)
        if check is not None:
            check(([Message("system", self.system)] if self.system else []) + [Message("user", text)])

    def send(self, text: str) -> Generator[Chunk, None, None]:
        if not text.strip():
            raise AssistantError("The message is empty; type something first.")
        self._check_input(text)
        conv = self._ensure_conversation(text)
        user = self.history.add_message(conv.id, "user", text, parent_id=self.leaf_id)
        self.leaf_id = user.id
        yield from self._reply(user.id)

    def retry(self) -> Generator[Chunk, None, None]:
        """Generate the last reply again, as a new branch beside the old one."""
        thread = self.thread()
        if not thread:
            raise AssistantError("There is no reply to retry yet; send a message first.")
        last = thread[-1]
        parent = last.parent_id if last.role == "assistant" else last.id
        if parent is None:
            raise AssistantError("There is no prompt before that reply to answer again.")
        self.leaf_id = parent
        yield from self._reply(parent)

    def edit(self, message_id: int, text: str) -> Generator[Chunk, None, None]:
        """Replace a prompt of this conversation with ``text`` (a new branch) and reply to it."""
        if self.conversation is None:
            raise AssistantError("There is no conversation to edit yet; send a message first.")
        original = self.history.get_message(message_id)
        if original.conversation_id != self.conversation.id or original.role != "user":
            raise AssistantError(f"Message {message_id} is not a prompt of this conversation.")
        if not text.strip():
            raise AssistantError("The edited message is empty; type something first.")
        self._check_input(text)
        user = self.history.add_message(self.conversation.id, "user", text, parent_id=original.parent_id)
        self.leaf_id = user.id
        yield from self._reply(user.id)

    def select_sibling(self, message_id: int, step: int) -> None:
        """Show the previous (step < 0) or next branch at ``message_id``; the thread follows its
        newest continuation."""
        if self.conversation is None:
            raise AssistantError("There is no conversation yet.")
        siblings = self.history.siblings(message_id)
        ids = [m.id for m in siblings]
        index = max(0, min(len(ids) - 1, ids.index(message_id) + step))
        leaf = ids[index]
        children = self._children_map()
        while children.get(leaf):
            leaf = max(children[leaf])
        self.leaf_id = leaf
        self.history.set_leaf(self.conversation.id, leaf)

    def _children_map(self) -> dict[int, list[int]]:
        assert self.conversation is not None
        out: dict[int, list[int]] = {}
        for m in self.history.messages(self.conversation.id):
            if m.parent_id is not None:
                out.setdefault(m.parent_id, []).append(m.id)
        return out

    def engine_messages(self, upto: int | None = None, *, tools: bool = False) -> list[Message]:
        """What the engine sees: the system prompt, then the thread up to ``upto`` (default: leaf).
        Without tools, a tool's result is shown as a user message and calls are left out."""
        assert self.conversation is not None
        thread = self.history.thread(self.conversation.id, upto if upto is not None else self.leaf_id)
        out = [Message("system", self.system)] if self.system else []
        for m in thread:
            if m.role == "tool":
                out.append(Message("tool", m.content, tool_call_id=m.tool_call_id, name=m.tool_name) if tools
                           else Message("user", f"[{m.tool_name or 'tool'} returned]\n{m.content}"))
            elif m.role in ("user", "assistant"):
                out.append(Message(m.role, m.content, tool_calls=m.tool_calls if tools else None))
        return out

    def _reply(self, parent_id: int) -> Generator[Chunk, None, None]:
        if self.tools is not None and self.tools.enabled:
            yield from self._tool_turn(parent_id)
        else:
            yield from self._one_reply(parent_id, self.engine.stream(self.engine_messages(parent_id), self.params))
        self._save_state()  # the turn is over: the next reopening starts from here

    def _tool_turn(self, parent_id: int) -> Generator[Chunk, None, None]:
        """Replies and tool calls until a reply has no call (assistant/session/tool_turns.py)."""
        from assistant.session.tool_turns import RoundResult, parse_round, run_calls

        runner = self.tools
        assert runner is not None and self.conversation is not None
        conv_id = self.conversation.id
        tool_format = getattr(self.engine, "tool_format", None)
        if tool_format is None:
            raise AssistantError("This engine cannot call tools; turn tools off for this chat.")
        fmt, offered = tool_format(), runner.offered()
        params = dataclasses.replace(self.params, tools=runner.schemas())
        runner.guard.reset()
        round_ = 0
        while True:
            out = RoundResult()
            chunks = self.engine.stream(self.engine_messages(parent_id, tools=True), params)
            yield from self._one_reply(parent_id, parse_round(chunks, fmt, offered, out), out)
            stop = runner.guard.check(out.calls) if out.calls else None
            if not out.calls or self._cancelled:
                yield out.final or Chunk("", finish_reason="stop")
                return

            def save(call: Any, result: Any) -> None:
                assert self.leaf_id is not None  # the reply, then each result in turn
                record = self.history.add_tool_result(conv_id, result.for_model(), parent_id=self.leaf_id,
                                                      call_id=call.id, name=call.name, is_error=result.is_error,
                                                      seconds=result.seconds)
                self.leaf_id = record.id

            yield from run_calls(runner, out.calls, out.errors, save, lambda: self._cancelled, round_, stop)
            self.history.set_leaf(conv_id, self.leaf_id)
            if stop:  # the calls were answered "not run" (saved, so the next turn renders); the turn ends
                yield Chunk(f"\n[{stop}]")
                yield out.final or Chunk("", finish_reason="stop")
                return
            if self._cancelled:
                yield Chunk("", finish_reason="cancelled")
                return
            round_ += 1
            assert self.leaf_id is not None
            parent_id = self.leaf_id

    def _one_reply(self, parent_id: int, chunks: Iterator[Chunk], calls: Any = None) -> Generator[Chunk, None, None]:
        """One assistant message streamed from ``chunks`` and saved as it grows; with ``calls`` (a
        tool round's RoundResult) its calls are saved with it and its final chunk is left to the turn."""
        assert self.conversation is not None
        record = self.history.start_reply(self.conversation.id, parent_id=parent_id, model=self.model)
        self.leaf_id = record.id
        self._cancelled = False
        parts: list[str] = []
        saved_len = 0
        last_save = time.monotonic()
        finished = False
        try:
            for chunk in chunks:
                if chunk.text:
                    parts.append(chunk.text)
                if chunk.finish_reason is not None:
                    stats = chunk.stats.as_dict() if chunk.stats else {}
                    self.history.finish_reply(record.id, "".join(parts), chunk.finish_reason, stats)
                    finished = True
                    self.last_finish_reason = chunk.finish_reason
                    self.last_stats = stats
                    self.last_dropped_turns = int(stats.get("dropped_turns", 0) or 0)
                elif time.monotonic() - last_save >= self.save_interval and len(parts) != saved_len:
                    self.history.update_reply(record.id, "".join(parts))
                    saved_len = len(parts)
                    last_save = time.monotonic()
                yield chunk
            if calls is not None and calls.final is not None:  # a tool round: its calls and end are saved now
                from assistant.session.tool_turns import history_calls

                final = calls.final
                stats = final.stats.as_dict() if final.stats else {}
                reason = "tool_calls" if calls.calls and final.finish_reason in ("eot", "stop") else final.finish_reason
                self.history.finish_reply(record.id, calls.text, reason or "stop", stats, history_calls(calls.calls))
                finished = True
                self.last_finish_reason = reason
                self.last_stats = stats
                self.last_dropped_turns = int(stats.get("dropped_turns", 0) or 0)
        except (KeyboardInterrupt, GeneratorExit):
            # the person stopped it (Ctrl+C, or the consumer closed the stream): a finished, cut reply
            if not finished:
                self.engine.cancel()
                self.history.finish_reply(record.id, "".join(parts), "cancelled", {})
                self.last_finish_reason = "cancelled"
                finished = True
            raise
        finally:
            if not finished and parts:  # an error mid-reply: keep what came, still marked interrupted
                self.history.update_reply(record.id, "".join(parts))
            elif not finished:  # an error before any text: no empty reply in the history
                self.history.delete_message(record.id)
                self.leaf_id = parent_id

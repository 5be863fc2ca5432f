"""The incremental parser over a reply's stream of text pieces.

    parser = ToolCallParser(fmt, offered={"read_file": schema, ...})
    for chunk in engine.stream(...):
        for event in parser.feed(chunk.text):    # TextEvent | ToolCallEvent | ToolCallError
            ...
    events = parser.finish()                     # at the end of the reply

Text is emitted as soon as it cannot be the start of a marker; a possible marker prefix is held back
until it is one or is not. A marked region becomes ToolCallEvents (each with a fresh id), or a
ToolCallError when it does not parse, names a tool that was not offered, or grows past the size cap.
Nothing raises: whatever the model writes, the caller gets events. ``feed`` also takes bytes (UTF-8
split anywhere)."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Mapping
from typing import Any

from assistant.tools.calls import Event, TextEvent, ToolCall, ToolCallError, ToolCallEvent
from assistant.tools.fmt_common import BadCall, JsonEnd, Parsed
from assistant.tools.formats import REPLY_START, Marker, ToolFormat

MAX_CALL_CHARS = 256 * 1024
MAX_PREFIX_CHARS = 512  # text between a json_end marker and its JSON (Mistral's name[ARGS])
_START_KEYS = ('"name"', '"type"', '"function"', '"tool_call"', '"tool_calls"')
_REPLY_JSON = Marker(REPLY_START, json_end=True)


def _json_call_prefix(after_brace: str) -> bool | None:
    """Whether text after a reply-opening ``{`` starts a call: True, False, or None (cannot tell yet)."""
    rest = after_brace.lstrip()
    if not rest:
        return None
    for key in _START_KEYS:
        if rest.startswith(key):
            return True
        if key.startswith(rest):
            return None
    return False


class ToolCallParser:
    def __init__(self, fmt: ToolFormat, offered: Iterable[str] | Mapping[str, Any] | None = None,
                 *, max_call_chars: int = MAX_CALL_CHARS) -> None:
        self.fmt = fmt
        self.schemas: Mapping[str, Any] | None = offered if isinstance(offered, Mapping) else None
        self.offered: frozenset[str] | None = None if offered is None else frozenset(offered)
        self.max_call_chars = max_call_chars
        self.calls: list[ToolCall] = []  # every call parsed so far
        self._opens = tuple(m.open for m in fmt.markers)
        self._firsts = "".join(sorted({o[0] for o in self._opens}))
        self._by_open = {m.open: m for m in fmt.markers}
        self._pending = ""
        self._visible = False  # emitted text other than whitespace
        self._decoder: Any = None
        self._ids: set[str] = set()
        self._reset_call(None)

    def _reset_call(self, marker: Marker | None) -> None:
        self._marker = marker
        self._parts: list[str] = []
        self._length = 0
        self._tail = ""  # the end of the body, to find a close marker split across pieces
        self._json: JsonEnd | None = None
        self._json_start = -1  # where the JSON value begins in the body
        self._overflow = False

    # -- input ---------------------------------------------------------------------------------
    def feed(self, piece: str | bytes) -> list[Event]:
        if isinstance(piece, bytes):
            if self._decoder is None:
                self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            text: str = self._decoder.decode(piece)
        else:
            text = piece
        if not text:
            return []
        self._pending += text
        out: list[Event] = []
        try:
            while self._pending and (self._scan_call(out) if self._marker else self._scan_text(out)):
                pass
        except Exception as exc:  # never escape: the rest of the reply is shown as text
            out.append(TextEvent(self._pending))
            self._pending = ""
            self._reset_call(None)
            out.append(ToolCallError(f"The reply could not be read ({type(exc).__name__})", "", self.fmt.new_id()))
        return out

    def finish(self) -> list[Event]:
        """The events left at the end of the reply (a held prefix is text; an unclosed call is parsed
        as it stands, and is an error when it is incomplete)."""
        out: list[Event] = []
        if self._decoder is not None:
            self._pending += self._decoder.decode(b"", final=True)
        if self._marker is None:
            self._emit(self._pending, out)
        else:
            body = "".join(self._parts) + self._pending
            if not self._overflow:
                opener = "" if self._marker is _REPLY_JSON else self._marker.open
                self._complete(self._marker.open, body, opener + body, out)
        self._pending = ""
        self._reset_call(None)
        return out

    # -- text mode -----------------------------------------------------------------------------
    def _emit(self, text: str, out: list[Event]) -> None:
        if text:
            out.append(TextEvent(text))
            if not self._visible and text.strip():
                self._visible = True

    def _scan_text(self, out: list[Event]) -> bool:
        buf = self._pending
        if self.fmt.reply_start_json and not self._visible:
            stripped = buf.lstrip()
            if self.calls and stripped.startswith(";"):  # Llama 3 separates calls with "; "
                stripped = stripped[1:].lstrip()
            if not stripped:
                return False  # hold leading whitespace until the reply shows what it is
            if stripped[0] == "{":
                verdict = _json_call_prefix(stripped[1:])
                if verdict is None:
                    return False
                if verdict:
                    self._pending = ""
                    self._start_call(_REPLY_JSON, stripped)
                    return True
        if not any(c in buf for c in self._firsts):
            self._emit(buf, out)
            self._pending = ""
            return False
        best, opener = -1, ""
        for o in self._opens:
            i = buf.find(o)
            if i >= 0 and (best < 0 or i < best):
                best, opener = i, o
        if best >= 0:
            self._emit(buf[:best], out)
            self._pending = ""
            self._start_call(self._by_open[opener], buf[best + len(opener):])
            return True
        hold = self._held(buf)
        self._emit(buf[: len(buf) - hold], out)
        self._pending = buf[len(buf) - hold:]
        return False

    def _held(self, buf: str) -> int:
        """The longest end of ``buf`` that is the start of a marker."""
        best = 0
        for o in self._opens:
            p = buf.find(o[0], max(0, len(buf) - len(o) + 1))
            while p >= 0:
                if o.startswith(buf[p:]):
                    best = max(best, len(buf) - p)
                    break
                p = buf.find(o[0], p + 1)
        return best

    # -- call mode -----------------------------------------------------------------------------
    def _start_call(self, marker: Marker, rest: str) -> None:
        self._reset_call(marker)
        self._pending = rest

    def _scan_call(self, out: list[Event]) -> bool:
        marker = self._marker
        assert marker is not None
        new, self._pending = self._pending, ""
        end = self._find_end(marker, new)
        if end is None:
            if not self._overflow:
                self._parts.append(new)
                if self._length + len(new) > self.max_call_chars:
                    self._overflow = True
                    self._parts = []
                    out.append(ToolCallError(
                        f"The call is longer than {self.max_call_chars:,} characters, so it was not read",
                        marker.open + "…", self.fmt.new_id()))
            self._length += len(new)
            return False
        cut = end - self._length  # where the body ends relative to `new` (< 0: a close split across pieces)
        stop = cut + len(marker.close) if marker.close else cut
        if not self._overflow:
            body = ("".join(self._parts) + new)[:end]
            raw = (marker.open if marker is not _REPLY_JSON else "") + body + marker.close
            self._complete(marker.open, body, raw, out)
        self._reset_call(None)
        self._pending = new[stop:]
        return True

    def _find_end(self, marker: Marker, new: str) -> int | None:
        """The body length at which the call ends, or None while it goes on."""
        if marker.close:
            window = self._tail + new
            i = window.find(marker.close)
            if i >= 0:
                return self._length - len(self._tail) + i
            self._tail = window[-(len(marker.close) - 1):] if len(marker.close) > 1 else ""
            return None
        if not marker.json_end:
            return None  # ends with the reply
        if self._json is None:
            head = "".join(self._parts) + new
            start = self._json_begin(marker, head)
            if start is None:
                if len(head) > MAX_PREFIX_CHARS:  # no JSON in sight: read what there is as the call
                    return len(head)
                return None
            self._json, self._json_start = JsonEnd(), start
            end = self._json.feed(head[start:])
        else:
            end = self._json.feed(new)
        return None if end is None else self._json_start + end

    @staticmethod
    def _json_begin(marker: Marker, head: str) -> int | None:
        stripped = head.lstrip()
        if not stripped:
            return None
        if stripped[0] in "[{":
            return len(head) - len(stripped)
        if marker.args_tag:
            i = head.find(marker.args_tag)
            return None if i < 0 else i + len(marker.args_tag)
        return len(head) - len(stripped)

    # -- a complete region ---------------------------------------------------------------------
    @property
    def _hint(self) -> str:
        return f" Write a call as: {self.fmt.example}" if self.fmt.example else ""

    def _complete(self, opener: str, body: str, raw: str, out: list[Event]) -> None:
        hint = self._hint
        try:
            parsed = self.fmt.parse(opener, body, self.schemas)
        except BadCall as exc:
            out.append(ToolCallError(f"{exc}.{hint}", raw, self.fmt.new_id(), exc.name))
            return
        except (RecursionError, MemoryError, ValueError, TypeError):
            out.append(ToolCallError(f"The call could not be read.{hint}", raw, self.fmt.new_id()))
            return
        for n, p in enumerate(parsed):
            out.append(self._event(p, raw if n == 0 else ""))

    def _event(self, p: Parsed, raw: str) -> ToolCallEvent | ToolCallError:
        call_id = p.id if p.id and p.id not in self._ids else self.fmt.new_id()
        while call_id in self._ids:
            call_id = self.fmt.new_id()
        self._ids.add(call_id)
        if self.offered is not None and p.name not in self.offered:
            tools = ", ".join(sorted(self.offered)) or "none"
            return ToolCallError(f"There is no tool named {p.name!r}; the tools offered are: {tools}.",
                                 raw, call_id, p.name)
        args = p.arguments
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except (ValueError, RecursionError):
                return ToolCallError(f"The arguments of the call to {p.name} are not valid JSON.{self._hint}",
                                     raw, call_id, p.name)
        if not isinstance(args, dict):
            return ToolCallError(f"The arguments of the call to {p.name} must be a JSON object of named values."
                                 f"{self._hint}", raw, call_id, p.name)
        call = ToolCall(call_id, p.name, args, raw)
        self.calls.append(call)
        return ToolCallEvent(call)


def parse_reply(fmt: ToolFormat, text: str, offered: Iterable[str] | Mapping[str, Any] | None = None) -> list[Event]:
    """A whole reply at once (the non-streamed path): the same events as feeding it in pieces, with
    adjacent text joined."""
    parser = ToolCallParser(fmt, offered)
    return join_text(parser.feed(text) + parser.finish())


def join_text(events: list[Event]) -> list[Event]:
    out: list[Event] = []
    for e in events:
        if isinstance(e, TextEvent) and out and isinstance(out[-1], TextEvent):
            out[-1] = TextEvent(out[-1].text + e.text)
        elif not (isinstance(e, TextEvent) and not e.text):
            out.append(e)
    return out

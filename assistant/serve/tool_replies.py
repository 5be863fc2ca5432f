"""A reply with tools, as each API returns it: the text through the model format's ToolCallParser,
calls that parsed and name an offered tool as ``tool_calls``, and anything else as text.

A call that does not parse, or names a tool that was not offered, is never a 500 and never a call:
its text goes back as content, as the model wrote it (the finish reason is then the model's own,
``stop``); the client sees what happened and the next request renders as any text would. An empty
list of calls (``<tool_call>[]</tool_call>``, SmolLM2's way of saying "no call") is dropped. With
``parallel_tool_calls: false`` only the first call is kept."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from assistant.serve.tool_calls import ToolPlan
from assistant.tools.calls import Event, TextEvent, ToolCall, ToolCallError, ToolCallEvent
from assistant.tools.deltas import OpenAIDeltas
from assistant.tools.parser import ToolCallParser

Piece = str | ToolCall


class CallReader:
    """Feed a reply's text as it streams; get text pieces and complete calls in order."""

    def __init__(self, plan: ToolPlan) -> None:
        self.plan = plan
        self.calls: list[ToolCall] = []
        self._parser: ToolCallParser | None = None

    def _get(self) -> ToolCallParser | None:
        if self._parser is None and self.plan.fmt is not None:
            self._parser = ToolCallParser(self.plan.fmt, self.plan.offered())
        return self._parser

    def feed(self, text: str) -> list[Piece]:
        parser = self._get()
        return [text] if parser is None else self._pieces(parser.feed(text))

    def finish(self) -> list[Piece]:
        parser = self._get()
        return [] if parser is None else self._pieces(parser.finish())

    def read(self, text: str) -> list[Piece]:
        """A whole reply at once."""
        return self.feed(text) + self.finish()

    def _pieces(self, events: Iterable[Event]) -> list[Piece]:
        out: list[Piece] = []
        for e in events:
            if isinstance(e, TextEvent):
                if e.text:
                    out.append(e.text)
            elif isinstance(e, ToolCallEvent):
                if self.calls and self.plan.parallel is False:
                    continue
                self.calls.append(e.call)
                out.append(e.call)
            elif isinstance(e, ToolCallError) and not self._no_call(e.raw):
                out.append(e.raw)
        return out

    def _no_call(self, raw: str) -> bool:
        fmt = self.plan.fmt
        for marker in fmt.markers if fmt else ():
            text = raw.strip()
            if marker.close and text.startswith(marker.open) and text.endswith(marker.close):
                body = text[len(marker.open) : len(text) - len(marker.close)]
                if body.replace(" ", "").replace("\n", "") == "[]":
                    return True
        return False


def text_of(pieces: Iterable[Piece]) -> str:
    return "".join(p for p in pieces if isinstance(p, str))


def finish_reason(reader: CallReader | None, mapped: str) -> str:
    return "tool_calls" if reader is not None and reader.calls else mapped


def openai_message(text: str, reader: CallReader | None) -> dict[str, Any]:
    """``choices[0].message``: content (null when there are calls and no other text) and tool_calls."""
    if reader is None:
        return {"role": "assistant", "content": text, "refusal": None}
    content = text_of(reader.read(text))
    message: dict[str, Any] = {"role": "assistant", "content": content if content.strip() or not reader.calls else None,
                               "refusal": None}
    if reader.calls:
        message["tool_calls"] = [c.as_openai() for c in reader.calls]
    return message


def openai_deltas(pieces: Iterable[Piece], deltas: OpenAIDeltas) -> list[dict[str, Any]]:
    """The ``delta`` of each chunk for streamed pieces: text as content, a call as its tool_calls items."""
    out: list[dict[str, Any]] = []
    for p in pieces:
        if isinstance(p, str):
            out.append({"content": p})
        else:
            out.extend({"tool_calls": [item]} for item in deltas.items(p))
    return out


def ollama_message(text: str, reader: CallReader | None) -> dict[str, Any]:
    if reader is None:
        return {"role": "assistant", "content": text}
    message: dict[str, Any] = {"role": "assistant", "content": text_of(reader.read(text))}
    if reader.calls:
        message["tool_calls"] = [c.as_ollama() for c in reader.calls]
    return message


def ollama_pieces(pieces: Iterable[Piece]) -> list[dict[str, Any]]:
    """The ``message`` of each streamed line: text, or one complete call."""
    return [{"role": "assistant", "content": p} if isinstance(p, str)
            else {"role": "assistant", "content": "", "tool_calls": [p.as_ollama()]} for p in pieces]

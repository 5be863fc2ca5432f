"""Turns with tools, as the app, the REPL and ``ask`` run them (the server never runs a tool).

One turn: the model replies; the reply's text streams at once while ToolCallParser holds back what
may be a call; each complete call is shown to the person, approved (or denied), run, and its result
saved as a ``tool`` message; then the model replies again, until a reply has no call, the chain
limit is reached, or the same call comes back with the same arguments. Calls that do not parse or
name a tool that was not offered are never run: the model gets a tool error instead.

The front ends see everything as Chunks: text, then ``Chunk(event=ToolCallShown(...))`` before a
call runs and ``Chunk(event=ToolCallDone(...))`` after, and one final chunk for the whole turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.engine.base import Chunk

if TYPE_CHECKING:
    from assistant.tools.approvals import ApprovalPolicy, AskFn, ChainGuard
    from assistant.tools.calls import Event, ToolCall, ToolResult
    from assistant.tools.formats import ToolFormat
    from assistant.tools.registry import ToolSet


@dataclass(frozen=True)
class ToolOptions:
    """What a command was told about tools (``--tool``, ``--allow-dir``, ``--mcp-config``, ``--yes``)
    plus the config's ``tools`` section (``allow_dirs``, ``preapproved``)."""

    names: tuple[str, ...] | None = None  # the tools offered; None: all
    allow_dirs: tuple[Path, ...] = ()
    mcp_config: Path | None = None
    yes: bool = False  # every call allowed for this run (the person said so)
    preapproved: tuple[str, ...] = ()
    max_rounds: int = 5

    @classmethod
    def with_config(cls, **given: Any) -> ToolOptions:
        """The options given, with the config file's ``tools`` section added (folders, pre-approvals)."""
        from models.store import read_config

        section = read_config().get("tools")
        section = section if isinstance(section, dict) else {}
        dirs = tuple(Path(d).expanduser() for d in section.get("allow_dirs", []) if isinstance(d, str))
        pre = tuple(n for n in section.get("preapproved", []) if isinstance(n, str))
        given["allow_dirs"] = tuple(given.get("allow_dirs") or ()) + dirs
        given.setdefault("preapproved", pre)
        return cls(**given)


@dataclass
class ToolCallShown:
    """A call about to be asked for / run (``error``: it will not run; the model gets this instead).
    ``round`` counts the model's replies in this turn (0 first): calls of one reply share it."""

    call: ToolCall
    error: str | None = None
    round: int = 0


@dataclass
class ToolCallDone:
    call: ToolCall
    result: ToolResult
    round: int = 0


@dataclass
class ToolRunner:
    """The tools of one chat: the set, which are on, the approval policy and the chain guard."""

    toolset: ToolSet
    policy: ApprovalPolicy
    guard: ChainGuard
    names: list[str] | None = None  # on for this chat; None: all
    enabled: bool = True
    notes: list[str] = field(default_factory=list)  # sentences for the person (servers that failed)

    @classmethod
    def start(cls, options: ToolOptions, ask: AskFn | None) -> ToolRunner:
        from assistant.tools.approvals import ApprovalPolicy, ChainGuard
        from assistant.tools.registry import ToolSet

        toolset = ToolSet.load(allow_dirs=options.allow_dirs, mcp_config=options.mcp_config)
        names = list(options.names) if options.names is not None else None
        tools = toolset.select(names)  # an unknown --tool name: one sentence
        policy = ApprovalPolicy(ask, preapproved=options.preapproved, tools=tools, allow_all=options.yes)
        return cls(toolset, policy, ChainGuard(options.max_rounds), names, True, list(toolset.problems))

    def schemas(self) -> list[dict[str, Any]]:
        return self.toolset.schemas(self.names)

    def offered(self) -> dict[str, dict[str, Any]]:
        return self.toolset.offered(self.names)

    def close(self) -> None:
        self.toolset.close()


@dataclass
class RoundResult:
    """One model reply of a tool turn: its text, its calls (errors as stand-in calls) and how it ended."""

    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # call id -> the tool error the model gets
    final: Chunk | None = None


def parse_round(chunks: Iterator[Chunk], fmt: ToolFormat, offered: dict[str, dict[str, Any]],
                out: RoundResult) -> Iterator[Chunk]:
    """Stream a reply's text as it comes; collect its calls into ``out``; the final chunk goes into
    ``out.final`` (not yielded: the caller decides whether the turn ends here)."""
    from assistant.tools.parser import ToolCallParser

    parser = ToolCallParser(fmt, offered)
    parts: list[str] = []

    def take(events: Sequence[Event]) -> Iterator[Chunk]:
        from assistant.tools.calls import TextEvent, ToolCallError, ToolCallEvent

        for event in events:
            if isinstance(event, TextEvent) and event.text:
                parts.append(event.text)
                yield Chunk(event.text)
            elif isinstance(event, ToolCallEvent):
                out.calls.append(event.call)
            elif isinstance(event, ToolCallError):
                call = event.as_call()
                out.calls.append(call)
                out.errors[call.id] = event.message

    for chunk in chunks:
        if chunk.text:
            yield from take(parser.feed(chunk.text))
        if chunk.finish_reason is not None:
            yield from take(parser.finish())
            out.final = chunk
    out.text = "".join(parts)


def history_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """Calls as the history and the engine keep them: OpenAI's shape with arguments as an object."""
    return [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls]


def run_calls(runner: ToolRunner, calls: Sequence[ToolCall], errors: dict[str, str],
              save: Callable[[ToolCall, ToolResult], None], cancelled: Callable[[], bool],
              round: int = 0, stop: str | None = None) -> Iterator[Chunk]:
    """Run (or refuse) each call in order, saving each result; yields the events the front ends show.
    ``stop`` (the chain guard's sentence) refuses them all: the model and the history get why."""
    from assistant.tools.calls import ToolResult

    for call in calls:
        error = errors.get(call.id) or (f"Not run: {stop}" if stop else None)
        yield Chunk("", event=ToolCallShown(call, error, round))
        if error is not None:
            result = ToolResult(error, is_error=True)
        elif cancelled():
            result = ToolResult("The person stopped the turn before this call ran.", is_error=True)
        else:
            result = runner.toolset.call(call, runner.policy)
        save(call, result)
        yield Chunk("", event=ToolCallDone(call, result, round))

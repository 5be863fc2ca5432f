"""Who lets a call run, and when a chain of calls stops.

    policy = ApprovalPolicy(ask=prompt_fn, preapproved=config_names, tools=toolset.list())
    policy.allows(tool, arguments)       # asks when it must; "always" answers are remembered
    guard = ChainGuard(max_rounds=5)
    stop = guard.check(calls)            # None, or a sentence: the chain limit, or a repeated call

``ask(tool, arguments) -> Decision`` is the front end's prompt (the app's dialog, the REPL's prompt,
``ask``'s terminal question). Only read-only built-ins may be pre-approved; ``allow_all`` is for a
person who said so for this run (``ask --yes``, ``tools call``)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from assistant.tools.calls import Tool, ToolCall, ToolError

DEFAULT_MAX_ROUNDS = 5


class Decision(enum.Enum):
    ALLOW_ONCE = "once"
    ALLOW_ALWAYS = "always"  # this tool, for the rest of the session
    DENY = "deny"


AskFn = Callable[[Tool, dict[str, Any]], Decision]


def denied_message(tool_name: str) -> str:
    """What the model is told when a call was not allowed."""
    return f"The person denied this call to {tool_name}; do not call it again with these arguments."


class ApprovalPolicy:
    def __init__(self, ask: AskFn | None = None, *, preapproved: Iterable[str] = (),
                 tools: Sequence[Tool] | None = None, allow_all: bool = False) -> None:
        self.ask = ask
        self.allow_all = allow_all
        self.preapproved = frozenset(preapproved)
        self.always: set[str] = set()
        if tools is not None:
            check_preapproved(self.preapproved, tools)

    def allows(self, tool: Tool, arguments: dict[str, Any]) -> bool:
        """Whether this call may run now (asking the person when nothing decided it before)."""
        if self.allow_all or tool.name in self.always:
            return True
        if tool.name in self.preapproved and tool.source == "builtin" and tool.read_only:
            return True
        if self.ask is None:
            return False
        try:
            decision = self.ask(tool, arguments)
        except (KeyboardInterrupt, EOFError):
            return False
        if decision is Decision.ALLOW_ALWAYS:
            self.always.add(tool.name)
        return decision in (Decision.ALLOW_ONCE, Decision.ALLOW_ALWAYS)


def check_preapproved(names: Iterable[str], tools: Sequence[Tool]) -> None:
    """ToolError unless every name is a read-only built-in among ``tools``."""
    by_name = {t.name: t for t in tools}
    for name in sorted(names):
        tool = by_name.get(name)
        if tool is None or tool.source != "builtin" or not tool.read_only:
            allowed = ", ".join(t.name for t in tools if t.source == "builtin" and t.read_only) or "none"
            raise ToolError(f"The config pre-approves {name!r}, which is not a read-only built-in tool here "
                            f"(those are: {allowed}); remove it from the pre-approved tools.")


class ChainGuard:
    """Counts the rounds of calls in one answer and stops a loop: more than ``max_rounds`` rounds,
    or a call repeated with the same arguments (in this answer, or twice in one round)."""

    def __init__(self, max_rounds: int = DEFAULT_MAX_ROUNDS) -> None:
        if max_rounds < 1:
            raise ToolError(f"The tool chain limit must be at least 1 round (got {max_rounds}).")
        self.max_rounds = max_rounds
        self.rounds = 0
        self._seen: set[tuple[str, str]] = set()

    def check(self, calls: Sequence[ToolCall]) -> str | None:
        """Call before running a round of ``calls``: None to go on, or the sentence to stop with."""
        self.rounds += 1
        if self.rounds > self.max_rounds:
            return (f"Stopped after {self.max_rounds} rounds of tool calls (the chain limit); "
                    "answer with what you have.")
        keys = [c.key() for c in calls]
        for call, key in zip(calls, keys):
            if key in self._seen or keys.count(key) > 1:
                return (f"Stopped: {call.name} was called again with the same arguments; "
                        "answer with the result you already have.")
        self._seen.update(keys)
        return None

    def reset(self) -> None:
        """A new question from the person: a fresh chain."""
        self.rounds = 0
        self._seen.clear()

"""A local model as the judge of a comparison, with a stated rubric.

Each pair is judged twice, once in each order, to cancel the judge's bias for a position: the
verdict stands when both orders pick the same run; a split or a tie in either order is a tie; a
pair is skipped when the judge gives no readable answer in either order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from assistant.engine.base import ChatEngine, GenerationParams, Message, collect
from assistant.eval.compare import CompareRun, Pair

RUBRIC = """You are a careful judge of AI assistant replies. Read the conversation and two replies to its \
last user message. Decide which reply a thoughtful person would prefer. In order of importance: \
1) it does what the user asked; 2) it is correct, with no invented facts; 3) it is clear, complete \
and to the point; 4) it is safe and polite. Do not prefer a reply for being longer. A reply that \
writes the user's next message, repeats itself or is cut off is worse. If both are equally good \
or equally bad, say tie. Answer with one word only: A, B or tie."""

_ANSWER = re.compile(r"^[\s*\"'`(\[]*(?:(?:reply|answer|response|verdict)\s*[:\-]?\s*)?(A|B|tie)\b", re.IGNORECASE)
_VERDICT_WORD = re.compile(r"\b(A|B|[Tt]ie)\b")
JUDGE_PARAMS = GenerationParams(temperature=0.0, top_k=0, min_p=0.0, top_p=1.0, repeat_penalty=1.0, max_tokens=8)


def judge_prompt(pair: Pair, reply_a: str, reply_b: str) -> list[Message]:
    convo = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in pair.messages)
    user = (f"Conversation:\n{convo}\n\n[Reply A]\n{reply_a.strip() or '(empty)'}\n\n"
            f"[Reply B]\n{reply_b.strip() or '(empty)'}\n\nWhich reply is better? Answer A, B or tie.")
    return [Message("system", RUBRIC), Message("user", user)]


def parse_answer(text: str) -> str | None:
    """"A", "B", "tie", or None when the first line is no clear verdict: "A recipe..." starts with
    an article, and "A, B or tie" names more than one."""
    line = next((x.strip() for x in text.splitlines() if x.strip()), "")
    m = _ANSWER.match(line)
    if not m:
        return None
    word, rest = m.group(1), line[m.end():]
    if word in ("a", "b") and re.search(r"[A-Za-z]", rest):
        return None  # a lowercase letter in a sentence
    if re.match(r"\s+[a-z]", rest) and not re.match(r"\s+(is|wins|was)\b", rest):
        return None  # "A recipe for ...": an article, not a verdict
    verdict = "tie" if word.lower() == "tie" else word.upper()
    others = {("tie" if w.lower() == "tie" else w) for w in _VERDICT_WORD.findall(rest)} - {verdict}
    return None if others else verdict


def judge_pair(engine: ChatEngine, pair: Pair) -> tuple[str, dict[str, Any]]:
    """The verdict on the sides as shown to the person (A = left) and the raw answers."""
    raw_shown, _ = collect(engine.stream(judge_prompt(pair, pair.left["reply"], pair.right["reply"]), JUDGE_PARAMS))
    raw_swapped, _ = collect(engine.stream(judge_prompt(pair, pair.right["reply"], pair.left["reply"]), JUDGE_PARAMS))
    shown = parse_answer(raw_shown)
    swapped = parse_answer(raw_swapped)
    unswapped = {"A": "B", "B": "A", "tie": "tie", None: None}[swapped]  # back to the shown sides
    votes = [v for v in (shown, unswapped) if v is not None]
    if not votes:
        verdict = "skip"
    elif len(votes) == 1:
        verdict = votes[0]
    else:
        verdict = votes[0] if votes[0] == votes[1] else "tie"
    return verdict, {"raw": [raw_shown, raw_swapped], "orders": [shown, unswapped]}


def run_judge(engine: ChatEngine, run: CompareRun, name: str,
              progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Judge every pair this judge has not judged yet; returns its counts."""
    judge = f"model:{name}"
    todo = run.pending(judge)
    for n, pair in enumerate(todo, 1):
        verdict, detail = judge_pair(engine, pair)
        run.record(pair, verdict, judge, **detail)
        if progress:
            progress(n, len(todo))
    return run.counts(judge)

"""How replies end, per run: the numbers ``eval stats`` prints side by side.

- clean stop: ended with the model's own end of turn (``eot``) and did not invent the next user
  turn (a line that starts with a role label such as ``User:`` or a chat-template marker);
- stop string: ended at a stop string (the fallback template's ``\\nUser:``, for example);
- hit the limit: ``length`` (max tokens or a full context);
- degenerate: over 40 tokens and fewer distinct word 4-grams than half of its word 4-grams;
- empty: nothing but whitespace.
"""

from __future__ import annotations

import re
import statistics
from typing import Any

from assistant.eval.runs import Generations

DEGENERATE_MIN_TOKENS = 40
DEGENERATE_RATIO = 0.5

# A reply that writes the person's next turn: a role label at the start of a line, or a template marker.
_INVENTED_TURN = re.compile(
    r"(?im)^\s*(?:#{1,4}\s*)?(?:user|human|instruction)\s*:"
    r"|<\|im_start\|>|<start_of_turn>|<\|start_header_id\|>|<\|user\|>|\[INST\]|<\|eot_id\|>|<end_of_turn>|<\|im_end\|>"
)

COLUMNS: list[tuple[str, str]] = [
    ("replies", "replies"),
    ("clean_stop", "clean stop (eot, no invented turn)"),
    ("invented_turn", "eot but invented the next turn"),
    ("stop_string", "ended by a stop string"),
    ("limit", "hit the token limit"),
    ("cancelled", "cancelled"),
    ("mean_tokens", "mean reply tokens"),
    ("median_tokens", "median reply tokens"),
    ("degenerate", "degenerate (repetitive)"),
    ("empty", "empty"),
]
SHARES = ("clean_stop", "invented_turn", "stop_string", "limit", "cancelled", "degenerate", "empty")


def invents_turn(text: str) -> bool:
    return bool(_INVENTED_TURN.search(text))


def reply_tokens(row: dict[str, Any]) -> int:
    tokens = (row.get("stats") or {}).get("completion_tokens")
    return int(tokens) if tokens is not None else len(row.get("reply", "").split())


def is_degenerate(text: str, tokens: int) -> bool:
    if tokens <= DEGENERATE_MIN_TOKENS:
        return False
    words = text.split()
    grams = [tuple(words[i:i + 4]) for i in range(len(words) - 3)]
    return bool(grams) and len(set(grams)) < DEGENERATE_RATIO * len(grams)


def classify(row: dict[str, Any]) -> dict[str, bool]:
    text = row.get("reply", "")
    reason = row.get("finish_reason")
    invented = invents_turn(text)
    return {
        "clean_stop": reason == "eot" and not invented,
        "invented_turn": reason == "eot" and invented,
        "stop_string": reason == "stop",
        "limit": reason == "length",
        "cancelled": reason == "cancelled",
        "degenerate": is_degenerate(text, reply_tokens(row)),
        "empty": not text.strip(),
    }


def run_stats(run: Generations) -> dict[str, Any]:
    rows = run.rows
    n = len(rows)
    counts = dict.fromkeys(SHARES, 0)
    for row in rows:
        for key, hit in classify(row).items():
            counts[key] += hit
    tokens = [reply_tokens(r) for r in rows]
    return {
        "label": run.label, "path": str(run.path), "replies": n,
        "counts": counts, "shares": {k: (v / n if n else 0.0) for k, v in counts.items()},
        "mean_tokens": statistics.fmean(tokens) if tokens else 0.0,
        "median_tokens": statistics.median(tokens) if tokens else 0.0,
    }


def _cell(s: dict[str, Any], key: str) -> str:
    if key == "replies":
        return str(s["replies"])
    if key in ("mean_tokens", "median_tokens"):
        return f"{s[key]:.1f}"
    return f"{s['shares'][key]:.0%} ({s['counts'][key]})"


def table_rows(all_stats: list[dict[str, Any]]) -> list[list[str]]:
    return [[title, *(_cell(s, key) for s in all_stats)] for key, title in COLUMNS]


def format_table(all_stats: list[dict[str, Any]]) -> str:
    """Runs side by side: one column per run, one line per measure."""
    header = ["", *(s["label"] for s in all_stats)]
    rows = [header, *table_rows(all_stats)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join(lines)


def markdown_table(all_stats: list[dict[str, Any]]) -> str:
    header = ["", *(s["label"] for s in all_stats)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(all_stats)]
    return "\n".join(lines)

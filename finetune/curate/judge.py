"""Quality by a local judge (AlpaGasus-style): a chat model scores each reply 1-5 against a stated
rubric, greedily; scores are cached per row in a JSONL file so a rerun costs nothing. The model comes
from the caller as a plain function (:data:`Generate`: ``assistant data`` passes a GGUF through its
chat engine), so this package needs no engine of its own and tests inject a scripted one."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finetune.curate.pool import Row
from models.progress import progress

RUBRIC_VERSION = 1
RUBRIC = """You rate replies of an AI assistant as examples for training a helpful assistant. Read the \
request and the reply, then give one score:
5 - excellent: does exactly what was asked, correct, complete, clear and well organised, like an expert's answer;
4 - good: helpful and correct, with small gaps or rough style;
3 - fair: partly helpful, vague, incomplete or padded;
2 - poor: mostly unhelpful, off-topic or with clear errors;
1 - bad: does not answer, wrong, harmful, or nonsense.
Do not reward length for its own sake. Answer with one digit only: 1, 2, 3, 4 or 5."""
PROMPT_CHARS = 2000  # longer requests and replies are cut for the judge (noted in its prompt)
REPLY_CHARS = 6000

ANSWER_TOKENS = 4  # the judge answers with one digit

Scorer = Callable[[str, str], str]  # (request, reply) -> the judge's raw answer
Generate = Callable[[list[tuple[str, str]], int], str]
"""(role, text) messages and a token limit -> the model's greedy reply: all the judge needs of a chat
model. ``assistant data`` builds it over its chat engine; tests script one."""
OpenJudge = Callable[[str], tuple[Generate, str, Callable[[], None]]]
"""A judge model's name -> (generate, judge id, close): how :func:`finetune.curate.select.run_select`
opens the judge of ``--by quality`` once the cheaper steps have run."""
_SCORE = re.compile(r"^[\s*\"'`(\[]*(?:(?:score|rating)\s*[:=\-]?\s*)?([1-5])(?![0-9.,]\d)", re.IGNORECASE)


def parse_score(text: str) -> int | None:
    line = next((x.strip() for x in text.splitlines() if x.strip()), "")
    m = _SCORE.match(line)
    return int(m.group(1)) if m else None


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "\n[... cut for the judge]"


def judge_texts(row: Row) -> tuple[str, str]:
    """(request, reply) for the judge: a dialogue's earlier turns go into the request."""
    assert row.example is not None
    turns = row.example.turns
    last = max(i for i, t in enumerate(turns) if t.role == "assistant")
    context = "\n\n".join(f"[{t.role}]\n{t.content.strip()}" for t in turns[:last])
    return _cut(context, PROMPT_CHARS), _cut(turns[last].content, REPLY_CHARS)


class ScoreCache:
    """Scores by key in an append-only JSONL file: an interrupted run keeps what it scored."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.scores: dict[str, dict[str, Any]] = {}
        if path is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    self.scores[rec["key"]] = rec
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line cut by an interruption

    def put(self, rec: dict[str, Any]) -> None:
        self.scores[rec["key"]] = rec
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def score_rows(rows: list[Row], scorer: Scorer, judge_id: str, cache: ScoreCache) -> dict[int, dict[str, Any]]:
    """line -> {"score": 1-5 or None, "raw": the answer, "cached": bool}."""
    out: dict[int, dict[str, Any]] = {}
    for row in progress(rows, "judge", len(rows)):
        request, reply = judge_texts(row)
        key = hashlib.sha256(f"{judge_id}\x00{RUBRIC_VERSION}\x00{request}\x00{reply}".encode()).hexdigest()
        rec = cache.scores.get(key)
        if rec is not None:
            out[row.line] = {**rec, "cached": True}
            continue
        raw = scorer(request, reply)
        rec = {"key": key, "score": parse_score(raw), "raw": raw[:200], "judge": judge_id}
        cache.put(rec)
        out[row.line] = {**rec, "cached": False}
    return out


def judge_messages(request: str, reply: str) -> list[tuple[str, str]]:
    """The judge's conversation for one row: the rubric as system prompt, the row as the user turn."""
    user = f"[Request]\n{request or '(none)'}\n\n[Reply]\n{reply}\n\nScore the reply from 1 to 5. Answer with one digit."
    return [("system", RUBRIC), ("user", user)]


def scorer_for(generate: Generate) -> Scorer:
    """A scorer that asks ``generate`` for a greedy reply of at most :data:`ANSWER_TOKENS` tokens."""

    def scorer(request: str, reply: str) -> str:
        return generate(judge_messages(request, reply), ANSWER_TOKENS)

    return scorer

"""Blind pairwise comparison of two generation runs: the pairs, which run is shown on which side,
and the judgments (a person's, or a judge model's), appended as they are made.

Runs are "first" (RUN_A on the command line) and "second" (RUN_B). Each pair shows one of them
as reply A (left) and the other as reply B (right), chosen by a seeded coin per prompt and stored
with the judgment, so a resumed session shows the same sides.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.eval.runs import append_jsonl, load_generations, now, read_jsonl, read_meta, slug, write_meta
from models.errors import AssistantError

JUDGMENTS = "judgments.jsonl"
PERSON = "person"
KEYS = {"a": "A", "b": "B", "t": "tie", "s": "skip"}  # key -> what it says about the shown sides
OUTCOMES = ("first", "tie", "second")


@dataclass
class Pair:
    id: str
    messages: list[dict[str, str]]
    first: dict[str, Any]  # the first run's record
    second: dict[str, Any]
    first_on_left: bool

    @property
    def left(self) -> dict[str, Any]:
        return self.first if self.first_on_left else self.second

    @property
    def right(self) -> dict[str, Any]:
        return self.second if self.first_on_left else self.first

    def winner(self, shown: str) -> str:
        """A shown-side verdict (A, B, tie, skip) as a run verdict (first, second, tie, skip)."""
        if shown in ("tie", "skip"):
            return shown
        left_wins = shown == "A"
        return "first" if left_wins == self.first_on_left else "second"


def coin(seed: int, pid: str) -> bool:
    return random.Random(f"{seed}:{pid}").random() < 0.5


class CompareRun:
    def __init__(self, folder: Path, meta: dict[str, Any], pairs: list[Pair]) -> None:
        self.folder = folder
        self.meta = meta
        self.pairs = pairs

    @property
    def labels(self) -> tuple[str, str]:
        return self.meta["first"]["label"], self.meta["second"]["label"]

    @classmethod
    def create(cls, run_a: Path, run_b: Path, out: Path | None = None, seed: int = 0) -> CompareRun:
        """Open the comparison folder of two runs, creating it on first use (resume otherwise)."""
        a, b = load_generations(run_a), load_generations(run_b)
        if a.path.resolve() == b.path.resolve():
            raise AssistantError("RUN_A and RUN_B are the same run; compare two different runs.")
        if out is None:
            out = a.path.parent / f"compare-{slug(a.label)}-vs-{slug(b.label)}" if a.path.is_dir() else Path.cwd() / "compare"
        if (out / "run.json").exists():
            existing = cls.open_existing(out)
            same = (Path(existing.meta["first"]["path"]).resolve(), Path(existing.meta["second"]["path"]).resolve())
            if same != (a.path.resolve(), b.path.resolve()):
                raise AssistantError(f"{out} compares other runs ({existing.meta['first']['path']} and "
                                     f"{existing.meta['second']['path']}); pass another --out.")
            return existing
        if out.exists() and any(out.iterdir()):
            raise AssistantError(f"{out} exists and is not a comparison; pass another --out.")
        labels = (a.label, b.label) if a.label != b.label else (f"{a.label} (A)", f"{b.label} (B)")
        meta = {"kind": "compare", "created": now(), "seed": seed,
                "first": {"label": labels[0], "path": str(a.path.resolve())},
                "second": {"label": labels[1], "path": str(b.path.resolve())}}
        out.mkdir(parents=True, exist_ok=True)
        write_meta(out, meta)
        return cls.open_existing(out)

    @classmethod
    def open_existing(cls, folder: Path) -> CompareRun:
        meta = read_meta(folder)
        if meta.get("kind") != "compare":
            raise AssistantError(f"{folder} is not a comparison run; pass the folder `assistant eval compare` wrote.")
        a, b = load_generations(Path(meta["first"]["path"])), load_generations(Path(meta["second"]["path"]))
        seed = int(meta.get("seed", 0))
        table_b = b.by_id()
        pairs = []
        for row in a.rows:
            other = table_b.get(str(row["id"]))
            if other is None:
                continue
            pid = str(row["id"])
            pairs.append(Pair(pid, row.get("messages", []), row, other, coin(seed, pid)))
        if not pairs:
            raise AssistantError(f"{a.path} and {b.path} share no prompt id; generate both from the same prompt file.")
        return cls(folder, meta, pairs)

    # -- judgments -----------------------------------------------------------------------------
    def judgments(self, judge: str = PERSON) -> dict[str, dict[str, Any]]:
        """The latest judgment per prompt id by this judge."""
        out: dict[str, dict[str, Any]] = {}
        for row in read_jsonl(self.folder / JUDGMENTS, repair=True):
            if row.get("judge") == judge:
                out[str(row["id"])] = row
        return out

    def judges(self) -> list[str]:
        seen: list[str] = []
        for row in read_jsonl(self.folder / JUDGMENTS):
            if row.get("judge") not in seen:
                seen.append(str(row.get("judge")))
        return seen

    def pending(self, judge: str = PERSON) -> list[Pair]:
        done = self.judgments(judge)
        return [p for p in self.pairs if p.id not in done]

    def record(self, pair: Pair, shown: str, judge: str = PERSON, **extra: Any) -> dict[str, Any]:
        """Save one verdict on the shown sides (A, B, tie or skip)."""
        if shown not in KEYS.values():
            raise ValueError(f"unknown verdict {shown!r}")
        row = {"id": pair.id, "judge": judge, "shown": shown, "winner": pair.winner(shown),
               "first_on_left": pair.first_on_left, "time": now(), **extra}
        append_jsonl(self.folder / JUDGMENTS, row)
        return row

    def counts(self, judge: str = PERSON) -> dict[str, int]:
        c = {"first": 0, "tie": 0, "second": 0, "skip": 0}
        ids = {p.id for p in self.pairs}
        for pid, row in self.judgments(judge).items():
            if pid in ids:
                c[row["winner"]] += 1
        return c

    def agreement(self, judge: str) -> dict[str, Any]:
        """How often ``judge`` and the person agree, over prompts both judged (skips left out)."""
        person, model = self.judgments(PERSON), self.judgments(judge)
        both = [pid for pid in person if pid in model and "skip" not in (person[pid]["winner"], model[pid]["winner"])]
        agree = sum(person[pid]["winner"] == model[pid]["winner"] for pid in both)
        return {"judge": judge, "both": len(both), "agree": agree, "share": agree / len(both) if both else None}

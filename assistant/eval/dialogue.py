"""The multi-turn protocol of the LIMA paper (section 4.4): a person chats with a model and rates
every assistant turn Fail, Pass or Excellent. With two models the dialogues alternate between them
(the one with fewer dialogues goes next) and the screen does not say which model is answering.

A dialogue is one JSON file in ``dialogues/``, rewritten atomically after every turn and rating.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.eval.runs import now, read_meta, write_meta
from models.atomic import write_json
from models.errors import AssistantError

RATINGS = ("Fail", "Pass", "Excellent")
RATING_KEYS = {"f": "Fail", "p": "Pass", "e": "Excellent"}


@dataclass
class Dialogue:
    id: int
    model: str
    created: str
    turns: list[dict[str, Any]] = field(default_factory=list)  # user, assistant, finish_reason, stats, rating

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "model": self.model, "created": self.created, "turns": self.turns}

    def unrated(self) -> dict[str, Any] | None:
        return next((t for t in self.turns if t.get("assistant") is not None and t.get("rating") is None), None)


class DialogueRun:
    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder = folder
        self.meta = meta
        self.dialogues: list[Dialogue] = []
        for path in sorted((folder / "dialogues").glob("*.json")):
            try:
                d = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, OSError) as exc:
                raise AssistantError(f"{path} is damaged ({exc}); fix or remove it.") from exc
            self.dialogues.append(Dialogue(int(d["id"]), str(d["model"]), str(d.get("created", "")), list(d.get("turns", []))))

    @property
    def models(self) -> list[str]:
        return list(self.meta["models"])

    @classmethod
    def create(cls, folder: Path, models: list[str], settings: dict[str, Any] | None = None) -> DialogueRun:
        if not models or len(set(models)) != len(models):
            raise AssistantError("Pass one or two different models with --model.")
        if (folder / "run.json").exists():
            run = cls.open_existing(folder)
            if sorted(run.models) != sorted(models):
                raise AssistantError(f"{folder} rates {', '.join(run.models)}; pass those models to continue it, or another --out.")
            return run
        if folder.exists() and any(folder.iterdir()):
            raise AssistantError(f"{folder} exists and is not a dialogue run; pass another --out.")
        meta = {"kind": "dialogue", "created": now(), "models": models, "settings": settings or {}}
        (folder / "dialogues").mkdir(parents=True, exist_ok=True)
        write_meta(folder, meta)
        return cls(folder, meta)

    @classmethod
    def open_existing(cls, folder: Path) -> DialogueRun:
        meta = read_meta(folder)
        if meta.get("kind") != "dialogue":
            raise AssistantError(f"{folder} is not a dialogue run; pass the folder `assistant eval dialogue` wrote.")
        return cls(folder, meta)

    def next_model(self) -> str:
        counts = {m: sum(1 for d in self.dialogues if d.model == m and d.turns) for m in self.models}
        return min(self.models, key=lambda m: (counts[m], self.models.index(m)))

    def new_dialogue(self, model: str | None = None) -> Dialogue:
        d = Dialogue(max((x.id for x in self.dialogues), default=0) + 1, model or self.next_model(), now())
        self.dialogues.append(d)
        return d

    def save(self, d: Dialogue) -> None:
        if d.turns:
            write_json(self.folder / "dialogues" / f"{d.id:04d}.json", d.as_dict())

    def ratings(self) -> dict[str, dict[str, int]]:
        out = {m: dict.fromkeys(RATINGS, 0) for m in self.models}
        for d in self.dialogues:
            for t in d.turns:
                if t.get("rating") in RATINGS:
                    out.setdefault(d.model, dict.fromkeys(RATINGS, 0))[t["rating"]] += 1
        return out

    def shares(self) -> dict[str, dict[str, Any]]:
        result = {}
        for model, counts in self.ratings().items():
            n = sum(counts.values())
            dialogues = sum(1 for d in self.dialogues if d.model == model and d.turns)
            result[model] = {"dialogues": dialogues, "rated": n, "counts": counts,
                             "shares": {r: (counts[r] / n if n else 0.0) for r in RATINGS}}
        return result

    def summary(self) -> str:
        parts = [f"{m}: {s['shares']['Excellent']:.0%} excellent of {s['rated']}" for m, s in self.shares().items() if s["rated"]]
        return "; ".join(parts) or "no rated turns yet"

    def touch(self) -> None:
        self.meta["summary"] = self.summary()
        write_meta(self.folder, self.meta)

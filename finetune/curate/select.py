"""``assistant data select``: the pipeline. Each input row is decided once, by the first step that
drops it: refused by finetune (``--strict`` refuses the file instead), exact duplicate, near-duplicate
prompt, over-long for ``--base`` at ``--max-length``, a filter, then the ranking. Dialogues stay out
of the ranking and are all kept unless ``--dialogues rank`` (or ``drop``). OUT, OUT.report.md and
OUT.selection.jsonl are written atomically, OUT last; an interruption leaves no partial file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune.curate.dedupe import SHINGLE, THRESHOLD, find_duplicates
from finetune.curate.filters import Filters
from finetune.curate.pool import Pool, Row, line_ranges, load_pool
from finetune.curate.rank import METHODS, by_chance, by_quality, longest, max_min, rank
from finetune.errors import FinetuneError
from models.atomic import atomic_open
from models.progress import progress

if TYPE_CHECKING:
    from finetune.curate.judge import OpenJudge

DIALOGUES = ("keep", "rank", "drop")
FORMATS = ("input", "messages")
SELECTION_KIND = "assistant-data-selection"


@dataclass
class SelectConfig:
    n: int
    by: str = "longest"
    seed: int = 0
    base: str | None = None
    max_length: int = 2048
    judge: str | None = None
    min_score: float = 4.0
    judge_cache: str | None = None  # the scores' JSONL cache (a rerun scores nothing twice)
    embed: str | None = None
    min_distance: float | None = None
    balance: str | None = None
    dialogues: str = "keep"
    format: str = "input"
    strict: bool = False
    dedupe: bool = True
    near_threshold: float = THRESHOLD
    shingle: int = SHINGLE
    filters: Filters = field(default_factory=Filters)

    def check(self) -> None:
        if self.n < 1:
            raise FinetuneError(f"--n must be at least 1, not {self.n}.")
        if self.by not in METHODS:
            raise FinetuneError(f"Unknown --by {self.by!r}; use one of {', '.join(METHODS)}.")
        if self.by == "quality" and not self.judge:
            raise FinetuneError("--by quality needs a judge model: pass --judge MODEL (a local GGUF or a model name).")
        if self.dialogues not in DIALOGUES:
            raise FinetuneError(f"--dialogues must be one of {', '.join(DIALOGUES)}, not {self.dialogues!r}.")
        if self.format not in FORMATS:
            raise FinetuneError(f"--format must be input or messages, not {self.format!r}.")
        if self.balance not in (None, "source"):
            raise FinetuneError(f"--balance takes only 'source', not {self.balance!r}.")
        if not 0 < self.near_threshold <= 1:
            raise FinetuneError(f"--near-threshold must be over 0 and at most 1, not {self.near_threshold}.")
        if self.shingle < 1:
            raise FinetuneError("--shingle must be at least 1 word.")
        if self.max_length < 16:
            raise FinetuneError("--max-length must be at least 16 tokens.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Selection:
    pool: Pool
    config: SelectConfig
    reasons: dict[int, str]  # line -> why dropped (absent: kept)
    stage: dict[int, str]  # line -> the step that dropped it
    kept: list[Row]
    counts: dict[str, int]
    notes: list[str]
    scores: dict[int, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[int, int] = field(default_factory=dict)


def paths_for(out: Path) -> tuple[Path, Path]:
    """(OUT.report.md, OUT.selection.jsonl) beside OUT."""
    stem = out.with_suffix("") if out.suffix in (".jsonl", ".json") else out
    return stem.with_name(stem.name + ".report.md"), stem.with_name(stem.name + ".selection.jsonl")


def run_select(source: str, cfg: SelectConfig, *, scorer: Any = None, base: Any = None,
               open_judge: OpenJudge | None = None, say: Callable[[str], None] = print) -> Selection:
    """Decide every row. ``scorer`` is a (scorer, judge id, cache) triple and ``base`` a loaded
    :class:`finetune.curate.tokens.Base`; the base is loaded from the config when not given, and the
    judge of ``--by quality`` is opened with ``open_judge`` (``assistant data`` passes its chat engine's)."""
    cfg.check()
    pool = load_pool(source)
    reasons: dict[int, str] = {}
    stage: dict[int, str] = {}
    notes: list[str] = []

    def drop(line: int, step: str, why: str) -> None:
        reasons[line], stage[line] = why, step

    if pool.bad and cfg.strict:
        details = [f"{pool.label} {r.line}: {r.error}" for r in pool.bad]
        raise FinetuneError(f"{pool.origin} has {len(pool.bad)} row(s) finetune would refuse (--strict); "
                            "fix or remove them, or drop --strict to leave them out.", details=details)
    for r in pool.bad:
        drop(r.line, "refused", f"finetune would refuse it: {r.error}")
    alive = pool.good
    if cfg.dedupe:
        dup = find_duplicates(alive, threshold=cfg.near_threshold, shingle=cfg.shingle)
        for r in alive:
            dup_why = dup.reason(r.line)
            if dup_why:
                drop(r.line, "exact duplicate" if r.line in dup.exact else "near duplicate", dup_why)
        alive = [r for r in alive if r.line not in reasons]
    tokens: dict[int, int] = {}
    if cfg.base:
        from finetune.curate.tokens import fit_rows, load_base, resolve_base

        if base is None:
            location, cache = resolve_base(cfg.base)
            base = load_base(cfg.base, location, cache, say)
        fits = fit_rows(base, alive, cfg.max_length)
        for r in alive:
            tokens[r.line] = fits[r.line].tokens
            if not fits[r.line].fits:
                drop(r.line, "over-long", str(fits[r.line].reason))
        cut = [r.line for r in alive if fits[r.line].cut and r.line not in reasons]
        if cut:
            notes.append(f"{len(cut)} dialogue(s) will be cut at a turn boundary by finetune's fit (lines {line_ranges(cut)}).")
        alive = [r for r in alive if r.line not in reasons]
    if cfg.filters.active:
        for r in progress(alive, "filters", len(alive)):
            filtered = cfg.filters.reason(r)
            if filtered:
                drop(r.line, "filter", filtered)
        alive = [r for r in alive if r.line not in reasons]
    dialogues = [r for r in alive if r.is_dialogue]
    ranked = alive if cfg.dialogues == "rank" else [r for r in alive if not r.is_dialogue]
    if cfg.dialogues == "drop":
        for r in dialogues:
            drop(r.line, "dialogue", "a dialogue (--dialogues drop)")
    scores: dict[int, dict[str, Any]] = {}
    chosen, why = _rank(ranked, cfg, scorer, open_judge, scores)
    for line, text in why.items():
        drop(line, "ranking", text)
    if len(ranked) < cfg.n or len(chosen) < cfg.n:
        notes.append(f"--n {cfg.n} asked for more rows than {'survive' if len(ranked) < cfg.n else 'pass the ranking'}: "
                     f"all {len(chosen)} that do are kept.")
    kept = sorted(chosen + (dialogues if cfg.dialogues == "keep" else []), key=lambda r: r.line)
    counts = {"rows": len(pool.rows), "kept": len(kept), "dropped": len(reasons),
              "kept_single_turn": sum(not r.is_dialogue for r in kept), "kept_dialogues": sum(r.is_dialogue for r in kept)}
    for step in stage.values():
        counts[f"dropped_{step.replace(' ', '_').replace('-', '_')}"] = counts.get(f"dropped_{step.replace(' ', '_').replace('-', '_')}", 0) + 1
    return Selection(pool, cfg, reasons, stage, kept, counts, notes, scores, tokens)


def _rank(rows: list[Row], cfg: SelectConfig, scorer: Any, open_judge: OpenJudge | None,
          scores: dict[int, dict[str, Any]]) -> tuple[list[Row], dict[int, str]]:
    if cfg.by == "longest":
        return rank(rows, cfg.n, longest, cfg.balance)
    if cfg.by == "random":
        return rank(rows, cfg.n, lambda g, k: by_chance(g, k, cfg.seed), cfg.balance)
    if cfg.by == "quality":
        from finetune.curate.judge import score_rows

        close = None
        if scorer is None:
            from finetune.curate.judge import ScoreCache, scorer_for

            assert cfg.judge is not None
            if open_judge is None:
                raise ValueError("run_select needs scorer= or open_judge= for --by quality")
            generate, judge_id, close = open_judge(cfg.judge)
            scorer = (scorer_for(generate), judge_id, ScoreCache(Path(cfg.judge_cache) if cfg.judge_cache else None))
        try:
            scores.update(score_rows(rows, *scorer))
        finally:
            if close:
                close()
        return rank(rows, cfg.n, lambda g, k: by_quality(g, k, scores, cfg.min_score), cfg.balance)
    from finetune.curate.embed import gguf_embeddings, tfidf

    vectors = gguf_embeddings(cfg.embed, rows) if cfg.embed else tfidf(rows)
    index = {r.line: i for i, r in enumerate(rows)}
    return rank(rows, cfg.n, lambda g, k: max_min(g, k, vectors[[index[r.line] for r in g]], cfg.min_distance),
                cfg.balance)


def write_selection(sel: Selection, out: Path, say: Callable[[str], None] = print) -> dict[str, Path]:
    """OUT (input's format or messages), OUT.report.md, OUT.selection.jsonl; OUT last."""
    from finetune.curate.report import selection_markdown

    out = out.expanduser()
    if out.exists() and out.is_dir():
        raise FinetuneError(f"--out {out} is a directory; pass a file name like picked.jsonl.")
    if "://" not in sel.pool.origin and out.resolve() == Path(sel.pool.origin):
        raise FinetuneError("--out must not be the input file; pass a new file name.")
    body = "".join((r.raw if sel.config.format == "input" else json.dumps(r.messages(), ensure_ascii=False)) + "\n"
                   for r in progress(sel.kept, "write", len(sel.kept)))
    data = body.encode("utf-8")
    report, selection = paths_for(out)
    header = {"kind": SELECTION_KIND, "version": 1, "input": sel.pool.origin, "input_sha256": sel.pool.sha256,
              "out": str(out.resolve()), "out_sha256": hashlib.sha256(data).hexdigest(), "config": sel.config.to_dict(),
              "counts": sel.counts, "notes": sel.notes, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with atomic_open(selection) as fh:
        fh.write(json.dumps(header, ensure_ascii=False) + "\n")
        for r in sel.pool.rows:
            rec: dict[str, Any] = {"line": r.line, "kept": r.line not in sel.reasons}
            if r.line in sel.reasons:
                rec |= {"step": sel.stage[r.line], "reason": sel.reasons[r.line]}
            rec |= {"source": r.source, "dialogue": r.is_dialogue, "reply_chars": r.reply_chars}
            if r.line in sel.tokens:
                rec["tokens"] = sel.tokens[r.line]
            if r.line in sel.scores:
                rec["score"] = sel.scores[r.line]["score"]
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    with atomic_open(report) as fh:
        fh.write(selection_markdown(sel, out, selection))
    with atomic_open(out, "wb") as fh:
        fh.write(data)
    return {"out": out, "report": report, "selection": selection}

"""``assistant data``: inspect a pool of training rows and select a LIMA-sized set from it. Only
click is imported here; :mod:`finetune.curate` (datasketch, transformers, llama_cpp inside its
functions) loads when a subcommand runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

EPILOG = """\b
Examples:
  assistant data inspect pool.jsonl --base gemma3-270m --max-length 2048
  assistant data select pool.jsonl --n 1000 --out picked.jsonl --by longest --base gemma3-270m
  assistant data select pool.jsonl --n 1000 --out picked.jsonl --by quality --judge smollm2-135m-instruct
  assistant data select pool.jsonl --n 1000 --out picked.jsonl --by diverse --balance source
  assistant finetune --base gemma3-270m --data picked.jsonl     # records picked.selection.jsonl
"""


@click.group("data", epilog=EPILOG)
def data() -> None:
    """Curate training data: inspect a pool, then select a clean, fitting, diverse set for finetune."""


def open_judge(model: str, ctx_size: int | None = None,
               threads: int | None = None) -> tuple[Callable[[list[tuple[str, str]], int], str], str, Callable[[], None]]:
    """The judge of ``--by quality``: (generate, judge id, close) for a local GGUF through the chat
    engine, greedy (:data:`finetune.curate.judge.OpenJudge`; finetune never imports the engine)."""
    from assistant.engine.base import GenerationParams, Message, collect
    from assistant.eval.cli_impl import start_llama
    from assistant.session.config import ChatOptions

    engine, resolved = start_llama(ChatOptions(model=model, ctx_size=ctx_size or 4096, threads=threads))
    judge_id = f"{resolved.name}:{Path(resolved.path).stat().st_size}"

    def generate(messages: list[tuple[str, str]], max_tokens: int) -> str:
        params = GenerationParams(temperature=0.0, top_k=0, min_p=0.0, top_p=1.0, repeat_penalty=1.0,
                                  max_tokens=max_tokens)
        text, _ = collect(engine.stream([Message(role, content) for role, content in messages], params))
        return text

    return generate, judge_id, engine.close


def _base(value: str | None) -> Any:
    if not value:
        return None
    from finetune.curate.tokens import load_base, resolve_base

    location, cache = resolve_base(value)
    return load_base(value, location, cache, say=lambda m: click.echo(m, err=True))


@data.command("inspect")
@click.argument("path")
@click.option("--base", default=None, help="Measure lengths in this base model's template tokens (as --base of finetune).")
@click.option("--max-length", type=int, default=2048, show_default=True, help="Tokens per example for the fit share.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Report folder [default: DATA_DIR/data/inspect-NAME].")
@click.option("--near-threshold", type=float, default=0.7, show_default=True, help="Jaccard similarity of near-duplicate prompts.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def inspect(path: str, base: str | None, max_length: int, out: Path | None, near_threshold: float, as_json: bool) -> None:
    """Rows, formats, sources, dialogues, short replies, rows finetune would refuse, duplicates and
    (with --base) lengths: a report folder with report.md and lengths.png."""
    from finetune.curate.inspect import run_inspect, summary_text
    from models.errors import AssistantError
    from models.paths import data_dir

    if max_length < 16:
        raise AssistantError("--max-length must be at least 16 tokens.")
    if not 0 < near_threshold <= 1:
        raise AssistantError(f"--near-threshold must be over 0 and at most 1, not {near_threshold}.")
    name = Path(path).stem if Path(path).expanduser().exists() else path.replace("/", "-")
    folder = (out or data_dir() / "data" / f"inspect-{name}").expanduser()
    info = run_inspect(path, folder, _base(base), max_length, threshold=near_threshold)
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=1))
        return
    click.echo(summary_text(info, "row" if info["refused"] and "row" in info["refused"][0] else "line"))
    click.echo(f"Report: {info['report']}")


@data.command("select")
@click.argument("path")
@click.option("--n", "n", type=int, required=True, help="Single-turn rows to keep (dialogues are kept apart unless --dialogues rank).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The selected rows (JSONL); OUT.report.md and OUT.selection.jsonl beside it.")
@click.option("--by", default="longest", show_default=True, help="longest | quality (a local judge) | diverse (embeddings or TF-IDF) | random.")
@click.option("--base", default=None, help="Drop rows that would lose their end of turn in this base's template at --max-length.")
@click.option("--max-length", type=int, default=2048, show_default=True, help="Tokens per example for the fit (with --base).")
@click.option("--judge", default=None, help="The judge model of --by quality (a model name or .gguf).")
@click.option("--min-score", type=float, default=4.0, show_default=True, help="The judge score (1-5) a row needs.")
@click.option("--judge-cache", type=click.Path(path_type=Path), default=None, help="Judge scores cache [default: CACHE_DIR/data/judge-scores.jsonl].")
@click.option("--embed", default=None, help="Embedding model of --by diverse (a .gguf or model name) [default: TF-IDF].")
@click.option("--min-distance", type=float, default=None, help="--by diverse: stop when the next row is closer than this cosine distance.")
@click.option("--balance", default=None, help="'source': keep the sources' proportions.")
@click.option("--dialogues", default="keep", show_default=True, help="keep (all, unranked) | rank (with the rest) | drop.")
@click.option("--format", "fmt", default="input", show_default=True, help="input (each row as it was) | messages (OpenAI rows).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --by random.")
@click.option("--near-threshold", type=float, default=0.7, show_default=True, help="Jaccard similarity of near-duplicate prompts.")
@click.option("--shingle", type=int, default=1, show_default=True, help="Words per shingle of the near-duplicate test.")
@click.option("--no-dedupe", is_flag=True, help="Keep duplicates.")
@click.option("--min-reply-chars", type=int, default=None, help="Filter: drop replies shorter than this.")
@click.option("--max-reply-chars", type=int, default=None, help="Filter: drop replies longer than this.")
@click.option("--no-references", is_flag=True, help="Filter: drop replies that refer to other content or are only links.")
@click.option("--no-html", is_flag=True, help="Filter: drop replies with HTML remnants (tags, entities) outside code.")
@click.option("--strict", is_flag=True, help="Refuse the file when any row is bad, instead of dropping those rows.")
def select(path: str, out: Path, fmt: str, no_dedupe: bool, judge_cache: Path | None, **kw: Any) -> None:
    """Select N rows: drop refused rows, duplicates, over-long rows and filtered rows, then rank.
    Writes OUT atomically with a report and a per-row selection record for finetune's provenance."""
    from finetune.curate.filters import Filters
    from finetune.curate.select import SelectConfig, run_select, write_selection
    from models.paths import cache_dir

    filters = Filters(kw.pop("min_reply_chars"), kw.pop("max_reply_chars"), kw.pop("no_references"), kw.pop("no_html"))
    cache = judge_cache or cache_dir() / "data" / "judge-scores.jsonl"
    cfg = SelectConfig(format=fmt, dedupe=not no_dedupe, filters=filters, judge_cache=str(cache), **kw)
    cfg.check()
    sel = run_select(path, cfg, open_judge=open_judge, say=lambda m: click.echo(m, err=True))
    files = write_selection(sel, out)
    c = sel.counts
    steps = ", ".join(f"{k.removeprefix('dropped_').replace('_', ' ')} {v}" for k, v in c.items()
                      if k.startswith("dropped_"))
    for note in sel.notes:
        click.echo(note, err=True)
    click.echo(f"Kept {c['kept']} of {c['rows']} rows ({c['kept_single_turn']} single-turn, {c['kept_dialogues']} dialogues)"
               f" in {files['out']}; dropped {c['dropped']}" + (f" ({steps})" if steps else "") + ".")
    click.echo(f"Report: {files['report']}\nEvery row: {files['selection']}")

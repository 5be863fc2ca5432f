"""``assistant eval``: generate, stats, compare, dialogue, report and lima-mini. Only click is
imported here; each subcommand imports its module when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from assistant.commands.options import model_options

EPILOG = """\b
Examples:
  assistant eval generate --model mine --prompts prompts.jsonl        # LIMA sampling, resumable
  assistant eval stats RUN_A RUN_B --json
  assistant eval compare RUN_A RUN_B                                  # blind, keys a / b / t / s
  assistant eval compare RUN_A RUN_B --judge some-judge-model
  assistant eval dialogue --model mine --model other                  # rate turns f / p / e
  assistant eval report                                               # past runs
  assistant eval lima-mini --data ../shared/data/lima/train.jsonl --out runs/lima-mini
"""

PathArg = click.Path(path_type=Path)


def lima_sampling_options(f: Any) -> Any:
    options = [
        click.option("-s", "--system", default=None, help="System prompt for every prompt that has none."),
        click.option("--temperature", type=click.FloatRange(min=0), default=None, help="[LIMA: 0.7]; 0 is greedy."),
        click.option("--top-p", type=click.FloatRange(0, 1), default=None, help="Nucleus sampling [LIMA: 0.9]."),
        click.option("--top-k", type=click.IntRange(min=0), default=None, help="Top-k [0: off, as in LIMA]."),
        click.option("--min-p", type=click.FloatRange(0, 1), default=None, help="Min-p [0: off, as in LIMA]."),
        click.option("--repeat-penalty", type=click.FloatRange(min=0), default=None, help="Repetition penalty [LIMA: 1.2]."),
        click.option("-n", "--max-tokens", type=click.IntRange(min=1), default=None, help="Most tokens per reply [LIMA: 2048]."),
        click.option("--seed", type=int, default=None, help="Base seed; each prompt derives its own from it [0]."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group("eval", epilog=EPILOG)
def eval_() -> None:
    """Measure models as the LIMA paper did: generations, how replies end, blind pairwise
    preference, and rated multi-turn dialogues. Reports are Markdown + PNG in each run folder."""


@eval_.command("generate")
@model_options
@click.option("--prompts", type=PathArg, required=True, help="A JSON/JSONL file of prompts ('prompt', 'conversations' or 'messages').")
@click.option("--out", type=PathArg, default=None, help="Run folder; an unfinished one resumes. [default: DATA_DIR/eval/MODEL--PROMPTS]")
@click.option("--label", default=None, help="Name of this run in tables and reports [default: the model name].")
@lima_sampling_options
def generate(prompts: Path, out: Path | None, label: str | None, **kw: Any) -> None:
    """One reply per prompt with LIMA's sampling; run it again to continue an interrupted run."""
    from assistant.commands.options import chat_options
    from assistant.eval.cli_impl import generate_command

    generate_command(chat_options(kw), prompts, out, label)


@eval_.command("stats")
@click.argument("runs", nargs=-1, required=True, type=PathArg)
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
def stats(runs: tuple[Path, ...], as_json: bool) -> None:
    """How replies end, runs side by side: clean stops, stop strings, limits, lengths, degenerate, empty.

    RUNS are folders from `eval generate`, or JSONL files of replies such as finetune's
    dev_generations.jsonl.
    """
    from assistant.eval.cli_impl import stats_command

    stats_command(list(runs), as_json)


@eval_.command("compare")
@click.argument("run_a", type=PathArg)
@click.argument("run_b", type=PathArg)
@click.option("--out", type=PathArg, default=None, help="Comparison folder; an unfinished one resumes. [default: beside RUN_A]")
@click.option("--judge", "judge_model", default=None, help="Let this local model judge (a stated rubric) instead of the screen.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the hidden side order.")
@click.option("--report-only", is_flag=True, help="Write the report from the judgments so far, without judging.")
@click.option("--ctx-size", type=click.IntRange(min=256), default=None, help="Judge context size [min(trained, 8192)].")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Judge CPU threads.")
def compare(run_a: Path, run_b: Path, out: Path | None, judge_model: str | None, seed: int, report_only: bool,
            ctx_size: int | None, threads: int | None) -> None:
    """Blind pairwise preference between two generation runs: keys a / b / t (tie) / s (skip)."""
    from assistant.eval.cli_impl import compare_command
    from assistant.session.config import ChatOptions

    judge = ChatOptions(model=judge_model, ctx_size=ctx_size, threads=threads) if judge_model else None
    compare_command(run_a, run_b, out, judge=judge, seed=seed or 0, report_only=report_only)


@eval_.command("dialogue")
@click.option("-m", "--model", "models", multiple=True, help="A model to chat with; give two to compare them (alternating, hidden).")
@click.option("--out", type=PathArg, default=None, help="Dialogue folder; an existing one continues. [default: DATA_DIR/eval/dialogue-MODELS]")
@click.option("--ctx-size", type=click.IntRange(min=256), default=None, help="Context size [min(trained, 8192)].")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads.")
@click.option("--verbose", is_flag=True, help="Show llama.cpp's log.")
@lima_sampling_options
def dialogue(models: tuple[str, ...], out: Path | None, **kw: Any) -> None:
    """Chat and rate every assistant turn Fail / Pass / Excellent (keys f / p / e)."""
    from assistant.commands.options import chat_options
    from assistant.eval.cli_impl import dialogue_command

    dialogue_command(list(models), out, chat_options(kw))


@eval_.command("report")
@click.argument("runs", nargs=-1, type=PathArg)
@click.option("--dir", "dirs", multiple=True, type=PathArg, help="Also list runs under this folder (default: DATA_DIR/eval and ./runs).")
def report(runs: tuple[Path, ...], dirs: tuple[Path, ...]) -> None:
    """List past eval runs; with RUN folders, write their report.md (and PNG) again."""
    from assistant.eval.cli_impl import report_command

    report_command(list(runs), list(dirs))


@eval_.command("lima-mini")
@click.option("--data", required=True, help="The LIMA training data (train.jsonl: 1,000 single-turn rows + the dialogues).")
@click.option("--out", type=PathArg, default=Path("runs/lima-mini"), show_default=True, help="Run folder; an unfinished run continues.")
@click.option("--base", default="gemma3-270m", show_default=True, help="The base model to fine-tune.")
@click.option("--examples", type=click.IntRange(min=1), default=None, help="Single-turn examples sampled before the fit drops those that do not fit [CPU: 240; GPU: all 1,000].")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs, each one checkpointed [CPU: 3; GPU: 15, the paper's].")
@click.option("--max-length", type=click.IntRange(min=64), default=None, help="Tokens per example [CPU: 512; GPU: 2048].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Examples per step [CPU: 4; GPU: 64].")
@click.option("--lr", type=float, default=None, help="Peak learning rate [CPU: 1e-4; GPU: 1e-5].")
@click.option("--lr-end", type=float, default=None, help="Final learning rate [CPU: 1e-5; GPU: 1e-6].")
@click.option("--dev-tokens", "dev_max_new_tokens", type=click.IntRange(min=1), default=None,
              help="Tokens of finetune's own dev generations at each checkpoint [CPU: 64; GPU: 256].")
@click.option("--max-tokens", type=click.IntRange(min=1), default=2048, show_default=True, help="Reply budget of the generations (LIMA's).")
@click.option("--quant", default="q8_0", show_default=True, help="Quantization of the converted models.")
@click.option("--schedule", type=click.Choice(["auto", "cpu", "paper"]), default="auto", show_default=True,
              help="cpu: the small stated schedule; paper: LIMA's; auto: paper with a CUDA GPU, else cpu.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for training (OMP_NUM_THREADS) and generation [all cores]; 1 is faster on a busy machine.")
@click.option("--select", type=click.Choice(["random", "longest"]), default="random", show_default=True,
              help="How the single-turn examples are picked: a seeded sample, or `assistant data select --by longest` "
                   "(the longest replies that fit --max-length with their end of turn).")
@click.option("--method", type=click.Choice(["full", "lora"]), default="full", show_default=True,
              help="lora: the two runs with LoRA adapters (finetune --method lora, lr 10x the schedule's), beside the "
                   "full runs in the same folder.")
@click.option("--dry-run", is_flag=True, help="Print the plan (data, schedule, steps) and stop.")
def lima_mini(**kw: Any) -> None:
    """LIMA in miniature: fine-tune the base twice (without and with the dialogues), convert each
    run's best checkpoint, generate on 20 held-out prompts and write one report: base, base with a
    URIAL prompt, tuned, tuned+dialogues."""
    from assistant.eval.lima_mini import lima_mini_command

    lima_mini_command(kw)

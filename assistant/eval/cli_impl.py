"""The bodies of the ``assistant eval`` subcommands (click definitions: assistant/commands/eval_cmd.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from assistant.eval.runs import eval_dir, slug
from assistant.session.config import ChatOptions
from models.errors import AssistantError


class _Bar:
    """A progress bar on stderr, one step per reply."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def __call__(self, row: dict[str, Any] | None, n: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_pos=True,
                                         item_show_func=lambda r: str(r["id"]) if r else "")
            self.bar.__enter__()
            self.bar.render_progress()
        if row is not None:
            self.bar.update(1, row)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def start_llama(opts: ChatOptions) -> tuple[Any, Any]:
    """(engine, resolved model) with llama.cpp's log sent to the log file."""
    from assistant.session.config import session_config
    from assistant.session.start import start_engine

    cfg = session_config(opts)
    return start_engine(cfg), cfg.model


def generate_command(opts: ChatOptions, prompts_file: Path, out: Path | None, label: str | None) -> None:
    from assistant.eval.generate import lima_params, model_record, run_generation
    from assistant.eval.promptset import load_prompts
    from assistant.eval.reports import generation_report
    from assistant.eval.runs import load_generations
    from assistant.eval.stats import format_table, run_stats

    prompts = load_prompts(prompts_file)  # a bad file fails before the model loads
    params = lima_params(**opts.chosen_sampling())
    engine, resolved = start_llama(opts)
    out = Path(out or eval_dir() / f"{slug(resolved.name)}--{slug(Path(prompts_file).stem)}").expanduser().resolve()
    provenance = resolved.manifest.provenance if resolved.manifest else None
    bar = _Bar(f"{resolved.name}")
    try:
        meta = run_generation(engine, prompts, out, params=params, model=model_record(engine, resolved),
                              provenance=provenance, system=opts.system, label=label, progress=bar)
    except KeyboardInterrupt:
        raise AssistantError(f"Stopped; the replies so far are in {out}. Run the same command again to continue.",
                             exit_code=130) from None
    finally:
        bar.close()
        engine.close()
    report = generation_report(out)
    click.echo(format_table([run_stats(load_generations(out))]))
    state = "complete" if meta["complete"] else "unfinished"
    click.echo(f"{meta['replies']} replies ({state}) in {out}; report: {report}")


def stats_command(runs: list[Path], as_json: bool) -> None:
    from assistant.eval.runs import load_generations
    from assistant.eval.stats import format_table, run_stats

    all_stats = [run_stats(load_generations(r)) for r in runs]
    if as_json:
        click.echo(json.dumps({"runs": all_stats}, indent=2, ensure_ascii=False))
    else:
        click.echo(format_table(all_stats))


def compare_command(run_a: Path, run_b: Path, out: Path | None, *, judge: ChatOptions | None, seed: int,
                    report_only: bool) -> None:
    """``judge``: the local model that judges (None: the person, on the comparison screen)."""
    from assistant.eval.compare import CompareRun
    from assistant.eval.compare_report import bars, write_compare_report

    run = CompareRun.create(run_a, run_b, out, seed=seed)
    if judge is not None:
        from assistant.eval.judge import run_judge

        engine, resolved = start_llama(judge)
        bar = _Bar(f"judge {resolved.name}")
        try:
            bar(None, 0, len(run.pending(f"model:{resolved.name}")))
            run_judge(engine, run, resolved.name, progress=lambda n, total: bar({"id": n}, n, total))
        finally:
            bar.close()
            engine.close()
    elif not report_only:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise AssistantError("The comparison screen needs a terminal; run it in one, or pass --judge MODEL or --report-only.")
        from assistant.eval.compare_app import CompareApp

        CompareApp(run).run()
    report = write_compare_report(run)
    click.echo(bars(run))
    click.echo(f"{run.meta['summary']}; report: {report}")


def dialogue_command(models: list[str], out: Path | None, opts: ChatOptions) -> None:
    from assistant.eval.dialogue import DialogueRun
    from assistant.eval.dialogue_report import bars, write_dialogue_report
    from assistant.eval.generate import lima_params, settings_of
    from models.resolve import resolve

    if not models:
        from models.resolve import default_model_name

        models = [default_model_name()]
    if len(models) > 2:
        raise AssistantError("Pass one or two models with --model; the protocol compares at most two.")
    names = [resolve(m).name for m in models]  # unknown names fail before the screen opens
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise AssistantError("The dialogue screen needs a terminal; run `assistant eval dialogue` in one.")
    folder = Path(out or eval_dir() / f"dialogue-{'-vs-'.join(slug(n) for n in names)}").expanduser().resolve()
    params = lima_params(**opts.chosen_sampling())
    run = DialogueRun.create(folder, names, settings_of(params, opts.system))
    by_name = dict(zip(names, models))

    def factory(name: str) -> Any:
        engine, _ = start_llama(opts.with_model(by_name.get(name, name)))
        return engine

    from assistant.eval.dialogue_app import DialogueApp
    from assistant.session.start import quiet_native_logs
    from assistant.tui.launch import terminal_on_saved_stderr

    quiet_native_logs(opts.verbose)  # llama.cpp's log goes to its file, not over the screen
    terminal_on_saved_stderr()  # Textual draws on sys.__stderr__: the terminal, not fd 2
    app = DialogueApp(run, factory, params, opts.system)
    try:
        app.run()
    finally:
        for engine in app.engines.values():
            engine.close()
    report = write_dialogue_report(run)
    click.echo(bars(run))
    click.echo(f"{run.summary()}; report: {report}")


def report_command(runs: list[Path], dirs: list[Path]) -> None:
    from assistant.eval.reports import listing
    from assistant.eval.runs import list_runs

    if runs:
        for folder in runs:
            click.echo(rewrite_report(Path(folder).expanduser()))
        return
    roots = [eval_dir(), Path.cwd() / "runs", *dirs]
    found = list_runs(roots)
    if not found:
        click.echo(f"No eval runs yet under {', '.join(str(r) for r in roots)}; start one with `assistant eval generate`.")
        return
    click.echo(listing(found))


def rewrite_report(folder: Path) -> Path:
    """Write the report of any kind of run again from its records."""
    from assistant.eval.reports import REPORT
    from assistant.eval.runs import read_meta

    meta = read_meta(folder)
    kind = meta.get("kind")
    if kind == "generate":
        from assistant.eval.reports import generation_report

        return generation_report(folder)
    if kind == "compare":
        from assistant.eval.compare import CompareRun
        from assistant.eval.compare_report import write_compare_report

        return write_compare_report(CompareRun.open_existing(folder))
    if kind == "dialogue":
        from assistant.eval.dialogue import DialogueRun
        from assistant.eval.dialogue_report import write_dialogue_report

        return write_dialogue_report(DialogueRun.open_existing(folder))
    if kind == "lima-mini":
        from assistant.eval.lima_report import write_lima_report

        return write_lima_report(folder)
    return folder / REPORT

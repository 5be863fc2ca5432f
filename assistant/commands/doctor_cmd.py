from __future__ import annotations

import click


@click.command()
def doctor() -> None:
    """Check Python, llama.cpp, CPU features, GPU support, the data dir and the default model."""
    from assistant.doctor import run_checks

    failed = False
    for check in run_checks():
        click.echo(f"{check.verdict:<5} {check.name:<14} {check.detail}")
        failed = failed or check.verdict == "fail"
    if failed:
        raise SystemExit(1)

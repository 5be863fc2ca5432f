from __future__ import annotations

import click


@click.group()
def models() -> None:
    """The models that --model accepts: the store and the bundled ones."""


@models.command("list")
def list_models() -> None:
    """Name, size, architecture, parameters, quant, context length; * marks the default."""
    from assistant.model_table import model_rows

    rows = model_rows()
    headers = ("NAME", "SIZE", "ARCH", "PARAMS", "QUANT", "CONTEXT", "SOURCE")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)))

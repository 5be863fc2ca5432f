from __future__ import annotations

from pathlib import Path

import click


@click.group()
def history() -> None:
    """Saved conversations: list, show, search, export and remove them."""


def _when(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


@history.command("list")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Most conversations to list.")
def list_conversations(limit: int) -> None:
    """Newest first: ID, last change, messages, model, title."""
    from assistant.history.store import History

    with History() as h:
        convs = h.list_conversations(limit=limit)
        if not convs:
            click.echo("No conversations yet; `assistant chat` or `assistant ask` starts one.")
            return
        rows = [(str(c.id), _when(c.updated), str(h.count_messages(c.id)), c.model or "-", c.title or "(untitled)")
                for c in convs]
    headers = ("ID", "UPDATED", "MESSAGES", "MODEL", "TITLE")
    widths = [max(len(hd), *(len(r[i]) for r in rows)) for i, hd in enumerate(headers)]
    click.echo("  ".join(hd.ljust(w) for hd, w in zip(headers, widths)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


@history.command("show")
@click.argument("conv_id", metavar="ID", type=int)
def show(conv_id: int) -> None:
    """Print a conversation (its selected branch)."""
    from assistant.history.store import History

    with History() as h:
        conv = h.get_conversation(conv_id)
        thread = h.thread(conv_id)
        total = h.count_messages(conv_id)
    click.echo(f"# {conv.title or '(untitled)'}")
    click.echo(f"conversation {conv.id} · model {conv.model or '-'} · {_when(conv.created)}"
               + (f" · {total - len(thread)} message(s) on other branches" if total > len(thread) else ""))
    if conv.system:
        click.echo(f"\nSystem: {conv.system}")
    for msg in thread:
        label = click.style("You" if msg.role == "user" else "Assistant", bold=True)
        note = " (interrupted)" if msg.interrupted else " (stopped)" if msg.finish_reason == "cancelled" else ""
        click.echo(f"\n{label}{note}:\n{msg.content}")


@history.command("search")
@click.argument("text", nargs=-1, required=True)
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True)
def search(text: tuple[str, ...], limit: int) -> None:
    """Full-text search over every message (the last word matches as a prefix)."""
    from assistant.history.store import History

    query = " ".join(text)
    with History() as h:
        hits = h.search(query, limit=limit)
    if not hits:
        click.echo(f"No message matches {query!r}.")
        return
    for hit in hits:
        snippet = " ".join(hit.snippet.split())
        click.echo(f"{hit.conversation_id:>5}  {hit.title or '(untitled)'}: {snippet}")


@history.command("export")
@click.argument("conv_id", metavar="ID", type=int)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export(conv_id: int, file: Path) -> None:
    """Write a conversation to FILE: Markdown (.md) or JSON (.json)."""
    from assistant.history.export import write_export
    from assistant.history.store import History

    with History() as h:
        write_export(h, conv_id, file)
    click.echo(f"Wrote conversation {conv_id} to {file}.")


@history.command("rm")
@click.argument("conv_ids", metavar="ID...", type=int, nargs=-1, required=True)
def rm(conv_ids: tuple[int, ...]) -> None:
    """Remove conversations and all their messages."""
    from assistant.engine.kv_state import StateStore
    from assistant.history.store import History

    with History() as h:
        for conv_id in conv_ids:
            title = h.get_conversation(conv_id).title
            h.delete_conversation(conv_id)
            StateStore().forget(str(conv_id))
            click.echo(f"Removed conversation {conv_id} ({title or 'untitled'}).")


@history.command("state")
@click.option("--clear", is_flag=True, help="Delete every saved conversation state (the conversations stay).")
def state(clear: bool) -> None:
    """The space the conversations' saved KV state takes (reopening one restores it instead of reading
    the whole conversation again), and the budget (`kv_cache_bytes` in the config)."""
    from assistant.engine.kv_state import StateStore

    store = StateStore()
    if clear:
        click.echo(f"Deleted {store.clear()} saved conversation states.")
        return
    files = store.files()
    click.echo(f"{len(files)} saved conversation states, {store.used_bytes() / 2**20:.1f} MiB of "
               f"{store.budget / 2**20:.0f} MiB, in {store.folder}")

"""The docs keep up with the CLI: every long option that a command's ``--help`` shows is named in
that command's page under docs/, and every link between README.md and docs/ resolves.

Only click's introspection is used (the command modules import click and light modules only), so
it takes about a second: no subprocess, no model.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from assistant.cli import cli

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"

# Top-level command -> the page that documents it and every one of its subcommands.
# A new command needs a page here (and the page needs its options): see docs/development.md,
# "Adding a command".
PAGES: dict[str, str] = {
    "ask": "docs/ask.md",
    "chat": "docs/chat.md",
    "history": "docs/chat.md",
    "models": "docs/models.md",
    "doctor": "README.md",
    "serve": "docs/serve.md",
    "convert": "docs/convert.md",
    "finetune": "docs/finetune.md",
    "data": "docs/data.md",
    "eval": "docs/eval.md",
    "tools": "docs/tools.md",
}

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def walk(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``command`` with its path of names (the root's path is empty)."""
    found = [(path, command)]
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1] if path else "assistant")
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"`assistant {' '.join((*path, name))}` is listed but does not load"
            found.extend(walk(sub, (*path, name)))
    return found


def long_options(command: click.Command, name: str) -> list[str]:
    """The long options that ``--help`` shows (``--help`` itself left out)."""
    ctx = click.Context(command, info_name=name)
    out: list[str] = []
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option) or param.hidden:
            continue
        out.extend(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--") and o != "--help")
    return out


COMMANDS = [(path, command) for path, command in walk(cli) if path]


def mentions(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def test_every_command_has_a_page() -> None:
    missing = sorted({path[0] for path, _ in COMMANDS} - set(PAGES))
    assert not missing, (
        "no docs page for " + ", ".join(f"`assistant {m}`" for m in missing)
        + ": write docs/NAME.md (one line per option) and map the command to it in PAGES in tests/test_docs.py"
    )
    for page in sorted(set(PAGES.values())):
        assert (REPO / page).is_file(), f"{page} (in PAGES of tests/test_docs.py) does not exist"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_is_documented(path: tuple[str, ...], command: click.Command) -> None:
    page = PAGES.get(path[0])
    if page is None:
        pytest.fail(f"`assistant {path[0]}` has no docs page: add it to PAGES in tests/test_docs.py")
    text = (REPO / page).read_text(encoding="utf-8")
    undocumented = [o for o in long_options(command, path[-1]) if not mentions(text, o)]
    assert not undocumented, (
        f"`assistant {' '.join(path)} --help` shows {', '.join(undocumented)}, which {page} does not mention; "
        "add a line saying what each does"
    )


def links_in(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks hold no links
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]  # no URLs, no mailto:


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def broken_links(page: Path) -> list[str]:
    """Relative links whose file is missing, or whose #anchor names no heading of a Markdown file."""
    broken = []
    for target in links_in(page):
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part) if file_part else page
        if not dest.exists() or (anchor and dest.suffix == ".md" and anchor not in anchors(dest)):
            broken.append(target)
    return broken


def test_readme_links_to_docs_resolve() -> None:
    readme = REPO / "README.md"
    doc_links = [t for t in links_in(readme) if t.startswith("docs/")]
    assert doc_links, "README.md links to no docs/ page"
    assert not broken_links(readme), f"README.md links to missing files or headings: {broken_links(readme)}"
    linked = {t.partition("#")[0] for t in doc_links}
    pages = sorted(p.relative_to(REPO).as_posix() for p in DOCS.glob("*.md"))
    unlinked = [p for p in pages if p not in linked]
    assert not unlinked, f"README.md does not link to {unlinked}"


def test_links_inside_docs_resolve() -> None:
    pages = sorted(DOCS.rglob("*.md"))
    assert pages
    broken = {p.relative_to(REPO).as_posix(): b for p in pages if (b := broken_links(p))}
    assert not broken, f"relative links to missing files or headings: {broken}"

"""The house rules on imports, checked from the source (every import, function-level ones included).

    python scripts/check_layers.py        # prints each breach; exit 1 if there is one

Rules (docs/development.md, "Dependency rules"):

1. Layers: `models` imports nothing of ours; `convert` and `finetune` import `models` only;
   nothing imports `assistant` but `assistant`. `bench`, `tests` and `scripts` may import anything.
2. No import circle between modules of the four packages, counting imports inside functions and
   under `TYPE_CHECKING`. A package's `__init__` counts as a module of its own.
3. No module imports another module's private name (`from x import _y` where x is not the module
   itself); names of the form `__x__` are not private.

The check reads files with `ast`: it imports nothing, so it runs without the project's dependencies.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("assistant", "models", "convert", "finetune")
# Which of our packages each package may import (itself always).
ALLOWED: dict[str, frozenset[str]] = {
    "models": frozenset(),
    "convert": frozenset({"models"}),
    "finetune": frozenset({"models"}),
    "assistant": frozenset({"models", "convert", "finetune"}),
}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted module name that the import loads (a module of ours)
    names: tuple[str, ...]  # names taken by `from target import ...`
    line: int
    path: Path


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path = ROOT) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(path, root)] = path
    return found


def _resolve_relative(importer: str, is_package: bool, level: int, module: str | None) -> str:
    parts = importer.split(".")
    base = parts if is_package else parts[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def ours(dotted: str) -> str | None:
        """The longest module of ours that `dotted` names or lies in."""
        parts = dotted.split(".")
        while parts:
            candidate = ".".join(parts)
            if candidate in modules:
                return candidate
            parts.pop()
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = ours(alias.name)
                if target:
                    found.append(Import(name, target, (), node.lineno, path))
        elif isinstance(node, ast.ImportFrom):
            base = (
                _resolve_relative(name, is_package, node.level, node.module)
                if node.level
                else (node.module or "")
            )
            target = ours(base)
            if target is None:
                continue
            plain: list[str] = []
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in modules:  # `from pkg import submodule`
                    found.append(Import(name, submodule, (), node.lineno, path))
                else:
                    plain.append(alias.name)
            if plain:
                found.append(Import(name, target, tuple(plain), node.lineno, path))
    return found


def top(module: str) -> str:
    return module.split(".")[0]


def layer_breaches(imports: list[Import], root: Path = ROOT) -> list[str]:
    out = []
    for imp in imports:
        src, dst = top(imp.importer), top(imp.target)
        if src != dst and dst not in ALLOWED[src]:
            out.append(
                f"{imp.path.relative_to(root)}:{imp.line}: {src} may not import {dst} ({imp.target})"
            )
    return out


def private_breaches(imports: list[Import], root: Path = ROOT) -> list[str]:
    out = []
    for imp in imports:
        if imp.target == imp.importer:
            continue
        for n in imp.names:
            if n.startswith("_") and not (n.startswith("__") and n.endswith("__")):
                out.append(
                    f"{imp.path.relative_to(root)}:{imp.line}: imports the private name {n} from {imp.target}"
                )
    return out


def circles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.target != imp.importer:
            graph.setdefault(imp.importer, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def all_imports(root: Path = ROOT) -> list[Import]:
    modules = source_files(root)
    out: list[Import] = []
    for name, path in modules.items():
        out.extend(imports_of(name, path, modules))
    return out


def breaches(root: Path = ROOT) -> list[str]:
    imports = all_imports(root)
    out = layer_breaches(imports, root) + private_breaches(imports, root)
    out += ["import circle: " + " <-> ".join(c) for c in circles(imports)]
    return out


def main() -> int:
    found = breaches()
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} breach(es) of the dependency rules (docs/development.md)", file=sys.stderr)
        return 1
    print("imports follow the dependency rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())

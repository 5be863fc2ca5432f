"""Progress bars on stderr (tqdm), silent when stderr is not a terminal: :func:`bar` for a count
updated by hand (convert's bytes and tensors), :func:`progress` for one pass over items (curation's rows).
tqdm is imported inside the functions."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class _Null:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def bar(total: int, desc: str, *, unit: str = "B", enabled: bool | None = None) -> Any:
    """A tqdm bar over ``total`` (bytes by default); a no-op without a terminal or tqdm."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        return _Null()
    try:
        from tqdm import tqdm
    except ImportError:
        return _Null()
    scale = unit == "B"
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=scale, unit_divisor=1024 if scale else 1000,
                leave=False, file=sys.stderr, dynamic_ncols=True)


def progress(items: Iterable[T], desc: str, total: int | None = None, *, unit: str = "row") -> Iterator[T]:
    """A tqdm bar on stderr for one pass over ``items`` (hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    yield from tqdm(items, desc=desc, total=total, unit=unit, file=sys.stderr, disable=None, leave=False)

"""Progress bars on stderr (tqdm), silent when stderr is not a terminal."""

from __future__ import annotations

import sys
from typing import Any


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

from __future__ import annotations

import re

from models.errors import AssistantError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,79}$")


def validate_name(name: str) -> str:
    """A store name: letters, digits and ``. _ : + -``; no path separators, no ``..``."""
    if not _NAME.match(name) or ".." in name:
        raise AssistantError(
            f"{name!r} is not a valid model name; use letters, digits, '.', '_', ':', '+' or '-' "
            "(no '/' and no '..'), at most 80 characters."
        )
    return name

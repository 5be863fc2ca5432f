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


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def looks_like_hub_id(value: str) -> bool:
    """``owner/name`` as the Hugging Face Hub spells a repository: one ``/``, letters, digits and
    ``_ . -``, the owner starting with a letter or digit. A path (``./x``, ``~/x``, ``/x``, ``a/b/c``),
    a ``.gguf`` file name and ``..`` are not. Callers test for an existing file or folder first."""
    return bool(_HUB_ID.fullmatch(value)) and ".." not in value and not value.lower().endswith(".gguf")

"""What ``assistant finetune --data OUT`` records of a selection: OUT.selection.jsonl's header (the
input, its sha256, the config, the counts), the selection file's own sha256, and whether OUT is
still the file that selection wrote. Cheap (no heavy imports) and never raises."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def selection_record(data_path: str | Path) -> dict[str, Any] | None:
    """None unless ``data_path`` is a file with an OUT.selection.jsonl beside it."""
    from finetune.curate.select import SELECTION_KIND, paths_for

    try:
        data = Path(data_path)
        if not data.is_file():
            return None
        selection = paths_for(data)[1]
        if not selection.is_file():
            return None
        raw = selection.read_bytes()
        header = json.loads(raw.split(b"\n", 1)[0])
        if not isinstance(header, dict) or header.get("kind") != SELECTION_KIND:
            return None
        return {"file": str(selection.resolve()), "sha256": hashlib.sha256(raw).hexdigest(),
                "input": header.get("input"), "input_sha256": header.get("input_sha256"),
                "config": header.get("config"), "counts": header.get("counts"),
                "matches_data": header.get("out_sha256") == hashlib.sha256(data.read_bytes()).hexdigest()}
    except (OSError, ValueError) as exc:
        return {"file": str(data_path), "error": f"selection unreadable ({exc})"}

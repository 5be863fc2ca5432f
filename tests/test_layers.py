"""The dependency rules (docs/development.md) hold for the tree, and the checker catches each kind of breach."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layers", REPO / "scripts" / "check_layers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_layers"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def write_tree(root: Path, files: dict[str, str]) -> None:
    for package in ("assistant", "models", "convert", "finetune"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_tree_follows_the_rules() -> None:
    assert checker().breaches() == []


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "models/store.py": "import json\n",
        "convert/run.py": "from models.store import json\n",
        "assistant/cli.py": "from convert.run import json\nimport finetune\n",
    })
    assert checker().breaches(tmp_path) == []


def test_layer_breaches_are_found_inside_functions(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "assistant/cli.py": "X = 1\n",
        "models/store.py": "def f():\n    from assistant.cli import X\n    return X\n",
        "convert/run.py": "import finetune.train\n",
        "finetune/train.py": "Y = 2\n",
    })
    found = checker().breaches(tmp_path)
    assert any("models may not import assistant" in line and "store.py:2" in line for line in found), found
    assert any("convert may not import finetune" in line for line in found), found


def test_a_circle_closed_by_a_function_level_import_is_found(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "finetune/run.py": "from finetune.train import train\nPrepared = object\n",
        "finetune/train.py": "def train():\n    from finetune.run import Prepared\n    return Prepared\n",
    })
    assert checker().breaches(tmp_path) == ["import circle: finetune.run <-> finetune.train"]


def test_private_names_of_other_modules_are_found(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "convert/vocab.py": "_json = 1\n__all__ = []\n",
        "convert/specials.py": "from convert.vocab import _json, __all__\nfrom .vocab import _json as j\n",
    })
    found = checker().breaches(tmp_path)
    assert found == [
        "convert/specials.py:1: imports the private name _json from convert.vocab",
        "convert/specials.py:2: imports the private name _json from convert.vocab",
    ], found

"""The bundled SmolLM2-135M-Instruct as judge and as embedder (slow: real llama.cpp models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.commands.data_cmd import open_judge
from finetune.curate.select import SelectConfig, run_select
from tests.finetune.curate.test_select import pool_lines

pytestmark = pytest.mark.slow


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join(pool_lines()) + "\n")
    return path


def test_bundled_judge_scores_and_caches(pool: Path, tmp_path: Path) -> None:
    cache = tmp_path / "s.jsonl"
    cfg = SelectConfig(n=3, by="quality", judge="smollm2-135m-instruct", min_score=1, judge_cache=str(cache))
    sel = run_select(str(pool), cfg, open_judge=lambda model: open_judge(model, ctx_size=2048, threads=1))
    assert sel.scores and all(s["score"] in (None, 1, 2, 3, 4, 5) for s in sel.scores.values())
    assert len(cache.read_text().splitlines()) == len(sel.scores)


def test_bundled_embeddings_for_diverse(pool: Path) -> None:
    sel = run_select(str(pool), SelectConfig(n=3, by="diverse", embed="smollm2-135m-instruct"))
    assert len([r for r in sel.kept if not r.is_dialogue]) == 3

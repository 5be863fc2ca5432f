from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.engine.base import LoadOptions
from assistant.engine.fake import FakeEngine
from assistant.eval.generate import LIMA_SAMPLING, lima_params, model_record, prompt_seed, run_generation
from assistant.eval.promptset import load_prompts
from assistant.eval.runs import read_jsonl
from models.errors import AssistantError
from tests.assistant.cli_helpers import run_cli

PROMPTS: list[dict[str, Any]] = [{"id": "one", "prompt": "Name a colour."},
           {"id": "two", "prompt": "Say hello.", "system": "Answer in one word."},
           {"id": "three", "conversations": ["Hi", "Hello! How can I help?", "What is 2+2?"]}]


def prompt_file(tmp_path: Path, rows: list[dict[str, Any]] = PROMPTS) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def smol_engine() -> Any:
    from assistant.engine.llama import LlamaEngine

    engine = LlamaEngine()
    engine.load(None, LoadOptions(n_ctx=512, n_threads=1))  # the default model: the bundled SmolLM2; 1 thread is
    # much faster than 2 on a busy 2-core machine
    yield engine
    engine.close()


def test_lima_sampling_is_the_default() -> None:
    p = lima_params()
    assert (p.temperature, p.top_p, p.repeat_penalty, p.max_tokens) == (0.7, 0.9, 1.2, 2048)
    assert (p.top_k, p.min_p) == (0, 0.0)
    assert lima_params(max_tokens=16, temperature=None).max_tokens == 16
    assert LIMA_SAMPLING["temperature"] == 0.7


def test_generate_on_default_model_then_resume(tmp_path: Path, smol_engine: Any) -> None:
    prompts = load_prompts(prompt_file(tmp_path))
    out = tmp_path / "run"
    params = lima_params(max_tokens=8)
    model = model_record(smol_engine)
    seen: list[str] = []

    def stop_after_first(row: dict[str, Any] | None, n: int, total: int) -> None:
        if row is not None:
            seen.append(row["id"])
            raise KeyboardInterrupt  # the person pressed Ctrl+C after the first reply

    with pytest.raises(KeyboardInterrupt):
        run_generation(smol_engine, prompts, out, params=params, model=model, progress=stop_after_first)
    assert [r["id"] for r in read_jsonl(out / "generations.jsonl")] == ["one"]
    meta = json.loads((out / "run.json").read_text())
    assert meta["complete"] is False and meta["model"]["arch"] == "llama"
    assert meta["settings"]["repeat_penalty"] == 1.2 and meta["settings"]["max_tokens"] == 8

    resumed: list[str] = []
    meta = run_generation(smol_engine, prompts, out, params=params, model=model,
                          progress=lambda row, n, total: resumed.append(row["id"]) if row else None)
    assert resumed == ["two", "three"]  # only what was left
    rows = read_jsonl(out / "generations.jsonl")
    assert [r["id"] for r in rows] == ["one", "two", "three"]
    assert meta["complete"] is True and meta["replies"] == 3
    for r in rows:
        assert r["finish_reason"] in ("eot", "length")
        assert 0 < r["stats"]["completion_tokens"] <= 8
        assert r["seed"] == prompt_seed(0, r["id"])
    assert rows[1]["messages"][0] == {"role": "system", "content": "Answer in one word."}
    assert [m["role"] for m in rows[2]["messages"]] == ["user", "assistant", "user"]


def test_torn_last_line_is_generated_again(tmp_path: Path) -> None:
    prompts = load_prompts(prompt_file(tmp_path))
    out = tmp_path / "run"
    engine = FakeEngine(["first reply", "second reply", "third reply"])
    engine.load("fake")
    run_generation(engine, prompts, out, params=lima_params(), model={"name": "fake", "path": "/f"})
    data = (out / "generations.jsonl").read_bytes()
    (out / "generations.jsonl").write_bytes(data[: len(data) - 15])  # killed while writing the last line
    engine.queue("third again")
    run_generation(engine, prompts, out, params=lima_params(), model={"name": "fake", "path": "/f"})
    rows = read_jsonl(out / "generations.jsonl")
    assert [r["reply"] for r in rows] == ["first reply", "second reply", "third again"]
    assert engine.calls[-1][1].repeat_penalty == 1.2


def test_resume_refuses_other_settings_or_model(tmp_path: Path) -> None:
    prompts = load_prompts(prompt_file(tmp_path))
    out = tmp_path / "run"
    engine = FakeEngine()
    engine.load("fake")
    run_generation(engine, prompts, out, params=lima_params(max_tokens=8), model={"name": "fake", "path": "/f"})
    with pytest.raises(AssistantError, match="max_tokens 8 \\(now 16\\)"):
        run_generation(engine, prompts, out, params=lima_params(max_tokens=16), model={"name": "fake", "path": "/f"})
    with pytest.raises(AssistantError, match="holds replies of 'fake'"):
        run_generation(engine, prompts, out, params=lima_params(max_tokens=8), model={"name": "other", "path": "/o"})


def test_cli_generate_and_errors(tmp_path: Path) -> None:
    prompts = prompt_file(tmp_path, PROMPTS[:2])
    out = tmp_path / "cli-run"
    done = run_cli("eval", "generate", "--prompts", str(prompts), "--out", str(out), "-n", "6", "--ctx-size", "512", "--threads", "1",
                   timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 replies (complete)" in done.stdout
    assert (out / "report.md").read_text().count("smollm2-135m-instruct** (") == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": 3}\n')
    failed = run_cli("eval", "generate", "--prompts", str(bad), "--out", str(tmp_path / "never"))
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [f"Error: {bad} has bad prompts: row 1 'prompt' must be a non-empty string."]
    assert not (tmp_path / "never").exists()

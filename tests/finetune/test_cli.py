"""``assistant finetune`` through the real entry point: help, store names, errors as one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import write_jsonl

REPO = Path(__file__).resolve().parents[2]


def _assistant(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "assistant", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)


def test_help_lists_the_options_without_importing_torch() -> None:
    code = (
        "import sys\nfrom assistant.cli import main\n"
        "try:\n    main(['finetune', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('torch', 'transformers') if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "--dialogues / --no-dialogues" in proc.stdout and "--dry-run" in proc.stdout and "--nproc" in proc.stdout
    assert "HEAVY []" in proc.stdout


def test_help_config_lists_every_key() -> None:
    proc = _assistant("finetune", "--help-config")
    assert proc.returncode == 0 and "epochs = 15" in proc.stdout and "lr_end = 1e-06" in proc.stdout


def test_errors_are_one_line_with_every_bad_row_above(tiny_llama: Path, tmp_path: Path) -> None:
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"conversations": ["q"]}, {"conversations": ["q", "a"]},
                                               {"messages": []}])
    proc = _assistant("finetune", "--base", str(tiny_llama), "--data", str(bad), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("line 1: ends with a user turn") and lines[1] == "line 3: has no turns"
    assert lines[-1].startswith("Error: ") and "has 2 bad row(s) (lines 1, 3;" in lines[-1]
    assert "Traceback" not in proc.stderr


def test_unknown_store_name_is_one_sentence(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"conversations": ["q", "a"]}])
    proc = _assistant("finetune", "--base", "no-such-model", "--data", str(data))
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: Unknown model 'no-such-model'") and "gemma3-270m" in proc.stderr


def test_dry_run_from_the_command_line(tiny_gemma: Path, lima_file: Path) -> None:
    proc = _assistant("finetune", "--base", str(tiny_gemma), "--data", str(lima_file), "--dry-run",
                      "--no-dialogues", "batch_size=2")
    assert proc.returncode == 0, proc.stderr
    assert "5 single-turn examples + 0 multi-turn dialogues; dialogues out" in proc.stdout
    # 5 rows fit; a quarter (1) is held out for the stop diagnostics, so 4 train
    assert "Held out: 1 single-turn examples" in proc.stdout and "Held out 1 examples instead of val_examples=32" in proc.stdout
    assert "Fit at max_length=2048 (overlong=drop): 5 of the 5 examples kept end with their end of turn" in proc.stdout
    assert "Steps: 30 (15 epochs x 2 steps of 2 examples)" in proc.stdout


@pytest.mark.parametrize("flag", ["--max-steps", "--out"])
def test_torchrun_form_shares_the_options(flag: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "finetune", "--help"], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert proc.returncode == 0 and flag in proc.stdout


def test_nproc_relaunch_passes_every_argument_through() -> None:
    """`assistant finetune --nproc N` rebuilds its arguments for `torchrun -m finetune`."""
    from finetune.cli import main, run_args, to_argv
    from finetune.prepared import RunArgs

    args = RunArgs(base="gemma3-270m", base_location="/cache/gemma.gguf", data="GAIR/lima", out=Path("runs/x"),
                   config_file=Path("r.toml"), overrides=["epochs=3", "lr=2e-5"], dialogues=False,
                   dev=Path("dev.json"), max_steps=7, dry_run=True)
    ctx = main.make_context("finetune", to_argv(args))
    params = dict(ctx.params)
    params.pop("cache_dir")
    again = run_args(params)
    assert again == RunArgs(base="/cache/gemma.gguf", data="GAIR/lima", out=Path("runs/x"), config_file=Path("r.toml"),
                            overrides=["epochs=3", "lr=2e-5"], dialogues=False, dev=Path("dev.json"), max_steps=7,
                            dry_run=True)

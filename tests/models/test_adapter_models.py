"""Adapter models in the store and ``--lora`` at chat time: an adapter model resolves to its base plus
the adapter, `ask` / `chat --plain` apply it through llama.cpp, and the mistakes are one sentence each."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "convert"))

import tiny  # noqa: E402
from lora import make_adapter  # noqa: E402

from assistant.cli import main  # noqa: E402
from models.errors import ModelNotFound  # noqa: E402
from models.resolve import resolve  # noqa: E402
from models.store import Store  # noqa: E402
from tests.assistant.cli_helpers import run_cli as run_subprocess  # noqa: E402
from tests.models.gguf_samples import write_tiny_gguf  # noqa: E402

ASK = ["--temperature", "0", "-n", "8", "--ctx-size", "256", "--threads", "1"]


@pytest.fixture(scope="module")
def lora_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("adapter-models")
    tok = tiny.bpe_tokenizer(root / "base", "llama3")
    base = tiny.model(root / "base", "llama", tok, tied=False)
    return make_adapter(base, root / "run" / "final", with_tokenizer=True)


@pytest.fixture
def adapter_model(lora_source: Path) -> tuple[str, str, Path]:
    """(adapter name, base name, adapter GGUF) in this test's store (converted without verify: fast)."""
    from convert.pipeline import ConvertOptions, convert

    result = convert(ConvertOptions(src=str(lora_source), quant="q8_0", adapter=True, name="ad", verify=False),
                     log=lambda _: None)
    assert result.base_name is not None
    return "ad", result.base_name, result.path


def ask(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    import io

    code, saved = 0, sys.stdin
    sys.stdin = io.StringIO("")  # nothing piped in (pytest's own stdin refuses reads)
    try:
        main(["ask", *ASK, *args, "Hello, who are you?"])
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.stdin = saved
    out = capsys.readouterr()
    return code, out.out, out.err


def error_of(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_the_adapter_model_is_its_base_plus_the_adapter(adapter_model: tuple[str, str, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    name, base, gguf = adapter_model
    resolved = resolve(name)
    assert resolved.path == Store().get(base).gguf_path and resolved.adapter == gguf and resolved.base_name == base
    assert resolved.lora_args(None) == {"lora_path": str(gguf), "lora_scale": 1.0}
    code, with_adapter, _ = ask(["-m", name], capsys)
    assert code == 0 and with_adapter.strip()
    assert ask(["-m", base, "--lora", str(gguf)], capsys)[1] == with_adapter
    bare = ask(["-m", base], capsys)[1]
    assert bare != with_adapter
    assert ask(["-m", base, "--lora", f"{gguf}:0"], capsys)[1] == bare  # SCALE 0: the adapter does nothing


def test_chat_plain_takes_lora(adapter_model: tuple[str, str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    name, base, gguf = adapter_model
    replies = []
    for model, extra in ((name, []), (base, ["--lora", str(gguf)]), (base, [])):
        result = run_subprocess("chat", "--plain", "-m", model, *extra, *ASK, stdin="Hello, who are you?\n/quit\n")
        assert result.returncode == 0, result.stderr[-2000:]
        replies.append([line for line in result.stdout.splitlines() if not line.startswith("[")])  # not the banner
    assert replies[0] == replies[1] != replies[2]


def test_models_show_and_modelfile(adapter_model: tuple[str, str, Path], capsys: pytest.CaptureFixture[str],
                                   tmp_path: Path) -> None:
    name, base, gguf = adapter_model
    main_ok(["models", "show", name])
    out = capsys.readouterr().out
    assert "Adapter (LoRA, applied over the base below)" in out and f"base     {base} (sha256" in out
    main_ok(["models", "list"])
    assert f"store (LoRA over {base})" in capsys.readouterr().out
    main_ok(["models", "modelfile", name, "-o", str(tmp_path / "Modelfile")])
    text = (tmp_path / "Modelfile").read_text()
    assert text.startswith(f"FROM {Store().get(base).gguf_path}\nADAPTER {gguf}\n") and "PARAMETER stop" in text


def main_ok(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code, exc.code


def test_a_changed_base_is_refused(adapter_model: tuple[str, str, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    name, base, _ = adapter_model
    Store().add(base, write_tiny_gguf(tmp_path / "other.gguf"), overwrite=True)
    code, _, err = ask(["-m", name], capsys)
    line = error_of(err)
    assert code == 1 and f"was made for the base {base} with sha256" in line and "convert the adapter again" in line
    Store().remove(base)
    with pytest.raises(ModelNotFound, match="is not in the store"):
        resolve(name)


def test_a_renamed_base_is_found_by_sha256(adapter_model: tuple[str, str, Path]) -> None:
    name, base, _ = adapter_model
    stored = Store().get(base)
    Store().add("renamed", stored.gguf_path, sha256=stored.manifest.sha256)
    Store().remove(base)
    assert resolve(name).base_name == "renamed"


@pytest.mark.parametrize(("args", "needle"), [
    (["-m", "{gguf}"], "is a LoRA adapter, not a model; run it over its base model: `-m BASE --lora"),
    (["-m", "{base}", "--lora", "{gguf}:abc"], "The scale in --lora"),
    (["-m", "{base}", "--lora", "{base_gguf}"], "is not a LoRA adapter (its general.type is model)"),
    (["-m", "smollm2-135m-instruct", "--lora", "{gguf}"], "does not fit"),
    (["-m", "{name}", "--lora", "{gguf}"], "is an adapter model already"),
])
def test_bad_lora_input(adapter_model: tuple[str, str, Path], capsys: pytest.CaptureFixture[str], args: list[str],
                        needle: str) -> None:
    name, base, gguf = adapter_model
    values = {"name": name, "base": base, "gguf": str(gguf), "base_gguf": str(Store().get(base).gguf_path)}
    code, out, err = ask([a.format(**values) for a in args], capsys)
    assert code == 1 and needle in error_of(err), err
    assert not out.strip()


def test_only_an_adapter_gguf_counts_as_one(adapter_model: tuple[str, str, Path], tmp_path: Path) -> None:
    from models.adapters import is_adapter_file

    _, base, gguf = adapter_model
    assert is_adapter_file(gguf) and not is_adapter_file(Store().get(base).gguf_path)
    assert not is_adapter_file(tmp_path / "missing.gguf") and not is_adapter_file(Path(__file__))


def test_our_run_over_a_stored_gguf_base(adapter_model: tuple[str, str, Path], lora_source: Path,
                                         tmp_path: Path) -> None:
    """A run whose provenance.json names a GGUF in the store: that model is the base, checked by sha256."""
    import json
    import shutil

    from convert.pipeline import ConvertOptions, convert

    _, base, _ = adapter_model
    stored = Store().get(base)
    run = Path(shutil.copytree(lora_source, tmp_path / "run"))
    (run / "provenance.json").write_text(json.dumps({"method": "lora", "base": {
        "name": base, "kind": "gguf", "location": str(stored.gguf_path), "sha256": stored.manifest.sha256}}))
    result = convert(ConvertOptions(src=str(run), adapter=True, name="over-gguf", verify=False), log=lambda _: None)
    assert result.base_name == base and resolve("over-gguf").path == stored.gguf_path
    assert len([m for m in Store().list() if not m.manifest.is_adapter]) == 1  # no second base


def test_a_gguf_base_without_the_adapters_template_gets_a_copy(lora_source: Path, tmp_path: Path) -> None:
    from convert.pipeline import ConvertOptions, convert

    other = tmp_path / "other.jinja"
    other.write_text("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}<|im_end|>\n{% endfor %}")
    base_folder = lora_source.parent.parent / "base"
    convert(ConvertOptions(src=str(base_folder), quant="f16", name="plain", template=other, verify=False),
            log=lambda _: None)
    lines: list[str] = []
    result = convert(ConvertOptions(src=str(lora_source), adapter=True, base="plain", name="ad", verify=False),
                     log=lines.append)
    assert result.base_name and result.base_name != "plain"
    assert any("lacks the adapter's chat template" in line for line in lines)
    from models.gguf_file import read_gguf

    chat_base = resolve("ad").path
    assert "<|im_start|>" in (read_gguf(chat_base).chat_template or "")  # the adapter's ChatML, not plain's
    assert Store().get(result.base_name).manifest.chat_template == "override"


def test_the_batched_engine_applies_an_adapter_model(adapter_model: tuple[str, str, Path]) -> None:
    """`serve --parallel N` loads models through BatchedEngine: an adapter model gets its adapter there too."""
    from assistant.engine.base import GenerationParams, LoadOptions, Message, collect
    from assistant.engine.batched import BatchedEngine

    name, base, _ = adapter_model

    def reply(model: str) -> str:
        engine = BatchedEngine(parallel=2)
        engine.load(model, LoadOptions(n_ctx=256, n_threads=1))
        try:
            return collect(engine.stream([Message("user", "Hello, who are you?")],
                                         GenerationParams(temperature=0.0, max_tokens=8)))[0]
        finally:
            engine.close()

    assert reply(name) != reply(base)

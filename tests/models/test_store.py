"""The model store and ``assistant models import|show|rm|default``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.cli import main
from models.errors import AssistantError
from models.manifest import MANIFEST_NAME, Manifest
from models.names import validate_name
from models.store import Store, read_config
from tests.models.gguf_samples import write_tiny_gguf


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return write_tiny_gguf(tmp_path / "Tiny-Model.Q8_0.gguf", template="{{ bos_token }}{% for m in messages %}{{ m.content }}<|im_end|>{% endfor %}")


@pytest.mark.parametrize("name", ["../evil", "a/b", "a\\b", "", ".hidden", "a..b", "x" * 81, "sp ace"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(AssistantError, match="not a valid model name"):
        validate_name(name)


def test_good_names() -> None:
    for name in ("smol", "llama3.2:1b", "my_model-v2+lima"):
        assert validate_name(name) == name


def test_import_copies_and_writes_a_manifest_with_defaults(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "models", "import", str(tiny), "--name", "tiny", "--system", "Be brief.",
                         "--param", "temperature=0.3", "--param", "top-k=20", "--param", "max_tokens=64")
    assert code == 0, err
    assert "Imported tiny" in out
    model = Store().get("tiny")
    assert model.gguf_path.read_bytes() == tiny.read_bytes() and not model.gguf_path.is_symlink()
    m = model.manifest
    assert (m.arch, m.context_length, m.chat_template) == ("llama", 256, "gguf")
    assert m.defaults.as_dict() == {"system": "Be brief.", "temperature": 0.3, "top_k": 20, "max_tokens": 64}
    assert len(m.sha256) == 64 and m.size_bytes == tiny.stat().st_size
    assert "<|im_end|>" in m.eot_tokens
    assert m.provenance["source"] == "import"
    on_disk = json.loads((model.folder / MANIFEST_NAME).read_text())
    assert on_disk["defaults"]["system"] == "Be brief."
    assert not [p for p in Store().root.iterdir() if p.name.startswith(".")]  # no staging left


def test_manifest_defaults_reach_the_session_config(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.session.config import ChatOptions, session_config

    run(capsys, "models", "import", str(tiny), "--name", "tiny", "--system", "Be brief.", "--param", "temperature=0.3",
        "--param", "top_p=0.5")
    cfg = session_config(ChatOptions(model="tiny"))
    assert cfg.system == "Be brief." and cfg.params.temperature == 0.3 and cfg.params.top_p == 0.5
    assert cfg.params.top_k == 40  # ours where the manifest says nothing
    cfg = session_config(ChatOptions(model="tiny", system="Be long.", temperature=1.1))
    assert cfg.system == "Be long." and cfg.params.temperature == 1.1 and cfg.params.top_p == 0.5


def test_import_link_keeps_the_file_where_it_is(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "import", str(tiny), "--link")
    assert code == 0 and "linked to" in out
    model = Store().get("tiny-model.q8_0")  # named after the file
    assert model.gguf_path.is_symlink() and model.gguf_path.resolve() == tiny.resolve()
    code, out, _ = run(capsys, "models", "rm", "tiny-model.q8_0")
    assert code == 0 and "is kept" in out
    assert tiny.exists() and not Store().has("tiny-model.q8_0")


@pytest.mark.parametrize(("args", "error"), [
    (["--param", "warmth=1"], "Unknown parameter 'warmth'"),
    (["--param", "temperature"], "KEY=VALUE"),
    (["--param", "seed=3"], "cannot be a model default"),
    (["--param", "top_p=2"], "top_p must be between"),
    (["--name", "../x"], "not a valid model name"),
])
def test_import_errors_are_one_line_and_store_nothing(tiny: Path, capsys: pytest.CaptureFixture[str],
                                                      args: list[str], error: str) -> None:
    code, out, err = run(capsys, "models", "import", str(tiny), *args)
    assert code == 1 and error in err and err.startswith("Error: ") and err.count("\n") == 1
    assert Store().list() == []


def test_import_refuses_bad_files_and_duplicates(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf at all")
    code, _, err = run(capsys, "models", "import", str(bad), "--name", "bad")
    assert code == 1 and "not a GGUF file" in err
    code, _, err = run(capsys, "models", "import", str(tmp_path / "missing.gguf"), "--name", "m")
    assert code == 1 and "does not exist" in err
    assert run(capsys, "models", "import", str(tiny), "--name", "t")[0] == 0
    code, _, err = run(capsys, "models", "import", str(tiny), "--name", "t")
    assert code == 1 and "already exists" in err
    assert run(capsys, "models", "import", str(tiny), "--name", "t", "--force", "--system", "new")[0] == 0
    assert Store().get("t").manifest.defaults.system == "new"


def test_a_failed_add_leaves_no_folder(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kw: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", boom)
    with pytest.raises(OSError):
        Store().add("tiny", tiny)
    assert not Store().has("tiny") and list(Store().root.iterdir()) == []


def test_manifest_keeps_unknown_fields(tiny: Path) -> None:
    store = Store()
    model = store.add("tiny", tiny)
    data = json.loads((model.folder / MANIFEST_NAME).read_text())
    data["future_field"] = {"keep": True}
    (model.folder / MANIFEST_NAME).write_text(json.dumps(data))
    store.update_manifest("tiny", {"defaults": {"temperature": 0.1}})
    again = json.loads((model.folder / MANIFEST_NAME).read_text())
    assert again["future_field"] == {"keep": True} and again["defaults"]["temperature"] == 0.1
    assert Manifest.load(model.folder).extra == {"future_field": {"keep": True}}


def test_default_and_rm(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "models", "default")[1].strip() == "smollm2-135m-instruct"
    run(capsys, "models", "import", str(tiny), "--name", "tiny")
    code, out, _ = run(capsys, "models", "default", "tiny")
    assert code == 0 and read_config()["default_model"] == "tiny"
    assert run(capsys, "models", "default")[1].strip() == "tiny"
    assert "tiny*" in run(capsys, "models", "list")[1]
    code, _, err = run(capsys, "models", "default", "nope")
    assert code == 1 and "Unknown model 'nope'" in err and read_config()["default_model"] == "tiny"
    code, _, err = run(capsys, "models", "default", str(tiny))
    assert code == 1 and "import the file first" in err
    code, out, _ = run(capsys, "models", "rm", "tiny")
    assert code == 0 and "Removed tiny." in out
    assert run(capsys, "models", "default")[1].strip() == "smollm2-135m-instruct"  # back to the bundled one
    code, _, err = run(capsys, "models", "rm", "tiny")
    assert code == 1 and "No model named 'tiny'" in err
    code, _, err = run(capsys, "models", "rm", "gemma3-270m")
    assert code == 1 and "bundled" in err


def test_show_prints_manifest_and_gguf_metadata(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "models", "import", str(tiny), "--name", "tiny", "--system", "Be brief.", "--param", "top_k=5")
    code, out, err = run(capsys, "models", "show", "tiny")
    assert code == 0, err
    for expected in ("architecture", "llama", "context length", "256", "eos", "</s> (1)", "stops on",
                     "top_k", "5", "System", "Be brief.", "Template (gguf)", "{{ bos_token }}", "sha256"):
        assert expected in out, expected
    code, out, _ = run(capsys, "models", "show", "tiny", "--json")
    data = json.loads(out)
    assert data["defaults"] == {"system": "Be brief.", "top_k": 5} and data["model"]["context_length"] == 256
    assert data["special_tokens"]["bos"] == "<s> (0)" and data["template"].startswith("{{ bos_token }}")
    code, out, _ = run(capsys, "models", "show", "tiny", "--template")
    assert out.strip().startswith("{{ bos_token }}")
    code, _, err = run(capsys, "models", "show", "nope")
    assert code == 1 and "Unknown model" in err


def test_show_a_gguf_without_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_tiny_gguf(tmp_path / "base.gguf", template=None)
    code, out, _ = run(capsys, "models", "show", str(path))
    assert code == 0 and "Template (fallback)" in out and "fallback" in out


def test_show_prints_the_stored_verify_report(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = {
        "tokenization": {"passed": True, "identical": 58, "texts": 58, "chats": 4},
        "logits": {"passed": True, "nmse": 1.4e-7, "nmse_max": 1e-3, "top1": 1.0, "top1_decisive": None,
                   "against": "transformers"},
        "perplexity": {"passed": True, "quantized": 10.5, "unquantized": 10.4, "ratio": 1.0064, "ratio_max": 1.01},
        "passed": True,
    }
    Store().add("verified", tiny, update={"verify": report})
    code, out, _ = run(capsys, "models", "show", "verified")
    assert code == 0
    assert "Verify (passed)" in out and "58/58 texts identical" in out and "ratio 1.0064" in out

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune.data import Turn, load_dataset
from finetune.errors import FinetuneError

from .conftest import write_jsonl


def test_the_four_formats_give_the_same_turns(tmp_path: Path) -> None:
    want = [Turn("system", "Be brief."), Turn("user", "Hi"), Turn("assistant", "Hello."),
            Turn("user", "Bye"), Turn("assistant", "Goodbye.")]
    rows = [
        {"messages": [{"role": t.role, "content": t.content} for t in want]},
        {"conversations": [{"from": {"system": "system", "user": "human", "assistant": "gpt"}[t.role], "value": t.content}
                           for t in want]},
        {"system": "Be brief.", "instruction": "Bye", "input": "", "output": "Goodbye.", "history": [["Hi", "Hello."]]},
    ]
    data = load_dataset(str(write_jsonl(tmp_path / "d.jsonl", rows)))
    assert [e.turns for e in data.examples] == [want, want, want]
    assert data.formats == {"messages": 1, "sharegpt": 1, "alpaca": 1}
    lima = load_dataset(str(write_jsonl(tmp_path / "l.jsonl", [{"conversations": ["Hi", "Hello."], "source": "x"}])))
    assert lima.examples[0].turns == want[1:3] and lima.formats == {"lima": 1}


def test_alpaca_input_is_appended_to_the_instruction(tmp_path: Path) -> None:
    data = load_dataset(str(write_jsonl(tmp_path / "a.jsonl", [{"instruction": "Sum:", "input": "2 2", "output": "4"}])))
    assert data.examples[0].turns == [Turn("user", "Sum:\n\n2 2"), Turn("assistant", "4")]


def test_every_bad_row_is_reported_by_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"conversations": ["Hi", "Hello."]}),  # 1 fine
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "function", "content": "x"}]}),  # 2 role
        "",  # 3 blank: skipped
        json.dumps({"conversations": ["Hi", "   "]}),  # 4 empty turn
        "{not json",  # 5
        json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                                 {"role": "assistant", "content": "c"}]}),  # 6 not alternating
        json.dumps({"conversations": ["Hi", "Hello.", "More?"]}),  # 7 ends with user
        json.dumps({"text": "plain"}),  # 8 unknown format
    ]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FinetuneError) as err:
        load_dataset(str(path))
    assert "has 6 bad row(s) (lines 2, 4, 5, 6, 7, 8;" in str(err.value)
    details = err.value.details
    assert [d.split(":")[0] for d in details] == [f"line {n}" for n in (2, 4, 5, 6, 7, 8)]
    assert "role 'function'" in details[0] and "turn 2 (assistant) is empty" in details[1]
    assert "not valid JSON" in details[2] and "turn 2 is user where assistant was expected" in details[3]
    assert "ends with a user turn" in details[4] and "no known format" in details[5]


def test_json_array_rows_are_numbered(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"conversations": ["a", "b"]}, {"conversations": ["a"]}]))
    with pytest.raises(FinetuneError, match=r"rows 2;"):
        load_dataset(str(path))


def test_dialogues_flag(tmp_path: Path) -> None:
    rows = [{"conversations": ["q", "a"], "source": "s"}, {"conversations": ["q", "a"], "source": "multi_turn"},
            {"conversations": ["q", "a", "q2", "a2"], "source": "s"}]
    path = str(write_jsonl(tmp_path / "d.jsonl", rows))
    with_d, without = load_dataset(path), load_dataset(path, dialogues=False)
    assert (with_d.single_turn, with_d.dialogues, len(without.examples), without.dialogues) == (1, 2, 1, 0)
    assert with_d.sha256 == without.sha256 and without.rows == 3


def test_missing_file_and_offline_hub_id(tmp_path: Path) -> None:
    with pytest.raises(FinetuneError, match="does not exist"):
        load_dataset(str(tmp_path / "nope.jsonl"))
    with pytest.raises(FinetuneError, match="is not a local path and the Hub cannot be reached"):
        load_dataset("someone/some-dataset")


def test_gated_dataset_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError

    def refuse(self: object, repo_id: str, **kwargs: object) -> list[str]:
        err = GatedRepoError.__new__(GatedRepoError)  # what the Hub raises for a gated repo (403)
        Exception.__init__(err, "403 Client Error: access to GAIR/lima is restricted")
        raise err

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", refuse)
    with pytest.raises(FinetuneError) as err:
        load_dataset("GAIR/lima")
    msg = str(err.value)
    assert msg.startswith("The dataset GAIR/lima is gated") and "https://huggingface.co/datasets/GAIR/lima" in msg
    assert "HF_TOKEN" in msg and "\n" not in msg


def test_lima_mix_counts(lima_train: Path) -> None:
    data = load_dataset(str(lima_train))
    assert (data.rows, data.single_turn, data.dialogues) == (1029, 1000, 29)
    assert data.formats == {"lima": 1029}
    assert all(e.source == "multi_turn" for e in data.examples if e.is_dialogue)
    assert len(load_dataset(str(lima_train), dialogues=False).examples) == 1000

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.eval.prompts import LIMA_MINI
from assistant.eval.promptset import load_prompts
from models.errors import AssistantError

REPO = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str, name: str = "p.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_row_shape(tmp_path: Path) -> None:
    rows = [
        "a bare string",
        {"id": "x", "prompt": "one turn", "system": "be brief", "category": "demo"},
        {"conversations": ["hi", "hello!", "and now?"]},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]},
    ]
    ps = load_prompts(write(tmp_path, "\n".join(json.dumps(r) for r in rows)))
    assert [p.id for p in ps.prompts] == ["1", "x", "3", "4"]
    assert ps.prompts[1].messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "one turn"}]
    assert ps.prompts[1].meta == {"category": "demo"}
    assert [m["role"] for m in ps.prompts[2].messages] == ["user", "assistant", "user"]
    assert ps.prompts[2].text == "and now?"
    assert len(ps.sha256) == 64
    same = load_prompts(write(tmp_path, json.dumps(rows), "p.json"))  # a JSON array reads the same
    assert [p.messages for p in same.prompts] == [p.messages for p in ps.prompts]


@pytest.mark.parametrize("text, words", [
    ('{"prompt": ""}', "row 1 'prompt' must be a non-empty string"),
    ('{"conversations": ["q", "a"]}', "must end with a user turn"),
    ('{"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}', "must end with a user turn"),
    ('{"text": "x"}', "needs 'prompt', 'conversations' or 'messages'"),
    ('{"id": 1, "prompt": "a"}\n{"id": 1, "prompt": "b"}', "repeats the id '1'"),
    ('{"prompt": "a"', "is not valid JSON or JSONL"),
    ("", "holds no prompts"),
])
def test_bad_files_name_the_problem(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(AssistantError) as err:
        load_prompts(write(tmp_path, text))
    assert words in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AssistantError, match="does not exist"):
        load_prompts(tmp_path / "nope.jsonl")


def test_reads_finetunes_dev_prompts() -> None:
    """One prompt format for both: finetune's built-in dev set loads here unchanged."""
    ps = load_prompts(REPO / "finetune" / "dev_prompts.json")
    raw = json.loads((REPO / "finetune" / "dev_prompts.json").read_text())
    assert [p.id for p in ps.prompts] == [r["id"] for r in raw]


def test_shipped_prompts_are_20_and_not_in_lima(lima_train: Path) -> None:
    ps = load_prompts(LIMA_MINI)
    assert len(ps.prompts) == 20
    assert sum(len(p.messages) > 1 and p.messages[0]["role"] == "user" for p in ps.prompts) == 2  # multi-turn
    data = lima_train.read_text(encoding="utf-8").lower()
    for p in ps.prompts:
        for m in p.messages:
            if m["role"] == "user":
                assert m["content"].lower()[:60] not in data, p.id

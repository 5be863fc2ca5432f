"""The store-name rule and the one "is this a Hub id" rule that finetune, convert and the commands share."""

from __future__ import annotations

import pytest

from models.errors import AssistantError
from models.names import looks_like_hub_id, validate_name


@pytest.mark.parametrize("value", [
    "GAIR/lima", "HuggingFaceTB/SmolLM2-135M", "someorg/some-model-that-is-not-cached", "a/b",
    "Qwen/Qwen2.5-0.5B-Instruct", "org_1/name.v2", "0rg/x",
])
def test_hub_ids(value: str) -> None:
    assert looks_like_hub_id(value)


@pytest.mark.parametrize("value", [
    "", "lima", "gemma3-270m", "/abs/path", "./rel/path", "../up", "~/home", "a/b/c", "a//b", "a/", "/b",
    ".hidden/x", "-org/x", "org/model.gguf", "org/MODEL.GGUF", "org/..", "a b/c", "org/na me", "org/x\n",
    "C:\\models\\x", "https://huggingface.co/org/x",
])
def test_not_hub_ids(value: str) -> None:
    assert not looks_like_hub_id(value)


def test_validate_name() -> None:
    assert validate_name("smollm2-135m-instruct") == "smollm2-135m-instruct"
    for bad in ("a/b", "..", "x..y", "", "-x"):
        with pytest.raises(AssistantError):
            validate_name(bad)

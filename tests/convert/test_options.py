"""Small option helpers: default store names and --param parsing."""

from __future__ import annotations

import pytest

from convert.errors import ConvertError
from convert.metadata import parse_params
from convert.pipeline import default_name
from models.names import validate_name


@pytest.mark.parametrize(("src", "quant", "expected"), [
    ("/runs/lima-gemma/epoch-15", "q4_k_m", "lima-gemma-epoch-15-q4_k_m"),
    ("Qwen/Qwen2.5-0.5B-Instruct", "q8_0", "qwen2.5-0.5b-instruct-q8_0"),
    ("/models/SmolLM2 135M-f16.gguf", "q4_0", "smollm2-135m-q4_0"),
    ("./ckpt/", "q6_k", "ckpt-q6_k"),
])
def test_default_name(src: str, quant: str, expected: str) -> None:
    assert default_name(src, quant) == expected
    validate_name(expected)


def test_parse_params() -> None:
    assert parse_params(["temperature=0.7", "top-k=20", "repeat_penalty=1.1", "max_tokens=256"]) == {
        "temperature": 0.7, "top_k": 20, "repeat_penalty": 1.1, "max_tokens": 256}
    for bad in (["temperature"], ["top_k=1.5"], ["heat=1"], ["top_p=-1"]):
        with pytest.raises(ConvertError):
            parse_params(bad)

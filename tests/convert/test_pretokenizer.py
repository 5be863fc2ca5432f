"""tokenizer.ggml.pre comes from the tokenizer's own split patterns, not from a hash of its vocabulary."""

from __future__ import annotations

from typing import Any

import pytest

from convert import pretokenizer as pt


def _split(regex: str) -> dict[str, Any]:
    return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}


def _bytelevel(use_regex: bool = False) -> dict[str, Any]:
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": use_regex}


def tj(pre: dict[str, Any] | None, ignore_merges: bool = False) -> dict[str, Any]:
    return {"pre_tokenizer": pre, "model": {"type": "BPE", "vocab": {}, "merges": [], "ignore_merges": ignore_merges}}


@pytest.mark.parametrize(("pre", "ignore_merges", "expected"), [
    ({"type": "Sequence", "pretokenizers": [_split(pt.LLAMA3), _bytelevel()]}, True, "llama-bpe"),
    ({"type": "Sequence", "pretokenizers": [_split(pt.LLAMA3), _bytelevel()]}, False, "dbrx"),
    ({"type": "Sequence", "pretokenizers": [_split(pt.QWEN2), _bytelevel()]}, False, "qwen2"),
    ({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, _bytelevel(True)]},
     False, "smollm"),
    (_bytelevel(True), False, "gpt-2"),
    ({"type": "Sequence", "pretokenizers": [_split(pt.TEKKEN), _bytelevel()]}, True, "tekken"),
])
def test_known_patterns(pre: dict[str, Any], ignore_merges: bool, expected: str) -> None:
    assert pt.derive(tj(pre, ignore_merges)) == expected


def test_resaved_tokenizer_with_rewritten_contractions_still_matches() -> None:
    """A fine-tune that re-saved its tokenizer (new vocab hash) with llama.cpp's adapted spelling."""
    rewritten = pt.QWEN2.replace(pt.CONTRACTIONS_I, pt.CONTRACTIONS)
    assert pt.derive(tj({"type": "Sequence", "pretokenizers": [_split(rewritten), _bytelevel()]})) == "qwen2"


def test_equivalent_pattern_matches_by_behaviour() -> None:
    """Textually different but splitting identically: found by running both on probe texts."""
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, _split(pt.GPT2.replace(r" ?\p{L}+", r"(?: )?\p{L}+")), _bytelevel()]}
    assert pt.derive(tj(pre), clean_up_spaces=False) == "smollm"


def test_clean_up_spaces_picks_among_equal_patterns() -> None:
    pre = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, _bytelevel(True)]}
    assert pt.derive(tj(pre), clean_up_spaces=True) == "starcoder"


@pytest.mark.parametrize("pre", [
    {"type": "Sequence", "pretokenizers": [_split(r"[A-Z]+|[a-z]+|\s+|."), _bytelevel()]},
    {"type": "Whitespace"},
    {"type": "Split", "pattern": {"Regex": pt.QWEN2}, "behavior": "Removed", "invert": False},
    None,
])
def test_unknown_is_refused_in_one_sentence(pre: dict[str, Any] | None) -> None:
    with pytest.raises(pt.UnknownPreTokenizer) as exc:
        pt.derive(tj(pre), where="x/tokenizer.json")
    message = str(exc.value)
    assert "x/tokenizer.json" in message and "llama.cpp" in message and message.count(". ") == 0


def test_sequential_split_matches_llama_cpp_semantics() -> None:
    import regex

    text = "abc 123 def"
    chunks = pt._split(text, [regex.compile(r"\p{N}"), regex.compile(pt.GPT2)])
    assert [text[a:b] for a, b in chunks] == ["abc", " ", "1", "2", "3", " def"]

"""Label masks at exact token positions, for each template family; the saved Jinja template renders
exactly what training saw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from finetune.data import Example, Turn
from finetune.template import IGNORE, apply_to_tokenizer, choose_template, encode

SINGLE = [Turn("user", "Name a colour."), Turn("assistant", "Red.")]
MULTI = [Turn("system", "Be brief."), Turn("user", "Name a fruit."), Turn("assistant", "An apple."),
         Turn("user", "Another?"), Turn("assistant", "A pear.")]


def _setup(folder: Path) -> tuple[Any, Any, int]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    template = choose_template(tok)
    added = apply_to_tokenizer(tok, template)
    return tok, template, added


def _expected_positions(tok: Any, template: Any, turns: list[Turn]) -> list[int]:
    """Independently: each reply's tokens (and one EOT) start where the rendered prefix ends."""
    positions = []
    for k, turn in enumerate(turns):
        if turn.role != "assistant":
            continue
        prefix = template.prompt(turns[:k])
        start = len(tok(prefix, add_special_tokens=False).input_ids)
        n = len(tok(turn.content, add_special_tokens=False).input_ids) + 1
        positions += list(range(start, start + n))
    return positions


@pytest.mark.parametrize(("fixture", "family", "n_added"), [("tiny_chatml", "chatml", 0), ("tiny_llama", "chatml", 2),
                                                            ("tiny_gemma", "gemma", 0)])
@pytest.mark.parametrize("turns", [SINGLE, MULTI], ids=["single", "multi"])
def test_labels_cover_replies_and_eot_only(request: pytest.FixtureRequest, fixture: str, family: str, n_added: int,
                                            turns: list[Turn]) -> None:
    tok, template, added = _setup(request.getfixturevalue(fixture))
    assert (template.family, added) == (family, n_added)
    enc = encode(tok, template, Example(turns, 1), max_length=512)
    labelled = [i for i, x in enumerate(enc.labels) if x != IGNORE]
    assert labelled == _expected_positions(tok, template, turns)
    assert [enc.input_ids[i] for i in labelled] == [enc.labels[i] for i in labelled]
    eot = tok.convert_tokens_to_ids(template.eot)
    replies = [t.content for t in turns if t.role == "assistant"]
    assert [enc.input_ids[i] for i in labelled].count(eot) == len(replies)
    text = tok.decode([enc.input_ids[i] for i in labelled])
    assert text == "".join(r + template.eot for r in replies)
    # nothing of the prompt, the role markers, the BOS or the newline after each EOT is labelled
    start = tok.convert_tokens_to_ids(template.start)
    assert all(enc.labels[i] == IGNORE for i, t in enumerate(enc.input_ids) if t in (start, tok.bos_token_id))


@pytest.mark.parametrize("fixture", ["tiny_chatml", "tiny_llama", "tiny_gemma"])
def test_saved_jinja_template_renders_what_training_saw(request: pytest.FixtureRequest, fixture: str) -> None:
    tok, template, _ = _setup(request.getfixturevalue(fixture))
    messages = [{"role": t.role, "content": t.content} for t in MULTI]
    assert tok.apply_chat_template(messages, tokenize=False) == template.render(MULTI)
    assert tok.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True) == template.prompt(MULTI[:-1])
    assert tok.eos_token == template.eot


def test_gemma_folds_the_system_prompt_into_the_first_user_turn(tiny_gemma: Path) -> None:
    _, template, _ = _setup(tiny_gemma)
    assert template.render(MULTI[:3]) == (
        "<bos><start_of_turn>user\nBe brief.\n\nName a fruit.<end_of_turn>\n<start_of_turn>model\nAn apple.<end_of_turn>\n"
    )


def test_added_eot_is_one_special_token(tiny_llama: Path) -> None:
    tok, template, added = _setup(tiny_llama)
    assert added == 2 and template.added == ["<|im_start|>", "<|im_end|>"]
    assert len(tok("x<|im_end|>y", add_special_tokens=False).input_ids) == 3


def test_a_trimmed_reply_gets_no_eot(tiny_chatml: Path) -> None:
    tok, template, _ = _setup(tiny_chatml)
    long = [Turn("user", "Hi"), Turn("assistant", "Recursion is when a function calls itself. " * 6)]
    full = encode(tok, template, Example(long, 1), max_length=4096)
    cut = encode(tok, template, Example(long, 1), max_length=len(full.input_ids) - 5)
    eot = tok.convert_tokens_to_ids(template.eot)
    assert not full.truncated and eot in full.labels
    assert cut.truncated and eot not in cut.labels and cut.n_labels == full.n_labels - 4  # the 5 cut: 3 reply tokens, the EOT, the newline

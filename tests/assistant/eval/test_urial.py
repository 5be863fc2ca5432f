"""The URIAL-style baseline prompt: a system text and three fixed exchanges before each prompt, the
same ids, and what the base model's fallback template makes of it."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.engine.base import Message
from assistant.engine.template import ChatTemplate
from assistant.eval.prompts import LIMA_MINI
from assistant.eval.promptset import load_prompts
from assistant.eval.urial import EXAMPLES, SYSTEM, urial_messages, write_urial_prompts


def test_every_prompt_gets_the_prefix_and_keeps_its_id(tmp_path: Path) -> None:
    out = write_urial_prompts(LIMA_MINI, tmp_path / "urial.jsonl")
    plain, urial = load_prompts(LIMA_MINI).prompts, load_prompts(out).prompts
    assert [p.id for p in urial] == [p.id for p in plain] and len(urial) == 20
    for a, b in zip(plain, urial):
        assert b.messages[0]["role"] == "system" and b.messages[0]["content"].startswith(SYSTEM)
        shots = b.messages[1:7]
        assert [m["role"] for m in shots] == ["user", "assistant"] * 3
        assert [m["content"] for m in shots[::2]] == [q for q, _ in EXAMPLES]
        assert b.messages[7:] == [m for m in a.messages if m["role"] != "system"]
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert all(set(r) == {"id", "messages"} for r in rows)


def test_a_prompt_with_its_own_system_text_keeps_it() -> None:
    msgs = urial_messages([{"role": "system", "content": "Talk like a pirate."}, {"role": "user", "content": "Hi"}])
    assert msgs[0]["content"] == SYSTEM + "\n\nTalk like a pirate." and msgs[-1] == {"role": "user", "content": "Hi"}
    assert sum(m["role"] == "system" for m in msgs) == 1


def test_the_base_models_fallback_template_renders_it_as_in_context_exchanges() -> None:
    msgs = urial_messages([{"role": "user", "content": "Why is the sky blue?"}])
    text = ChatTemplate.fallback().render([Message(m["role"], m["content"]) for m in msgs])
    assert text.startswith(SYSTEM)
    assert f"User: {EXAMPLES[0][0]}\nAssistant: {EXAMPLES[0][1]}" in text
    assert text.endswith("User: Why is the sky blue?\nAssistant:")
    assert text.index(EXAMPLES[2][1]) < text.index("Why is the sky blue?")

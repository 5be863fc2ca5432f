from __future__ import annotations

import pytest

from assistant.engine.base import Message
from assistant.engine.stops import StopMatcher
from assistant.engine.template import FALLBACK_STOP, ChatTemplate
from models.errors import AssistantError

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def conv() -> list[Message]:
    return [Message("system", "S"), Message("user", "hi"), Message("assistant", "hello"), Message("user", "more")]


def test_renders_chatml() -> None:
    text = ChatTemplate(CHATML, "gguf").render(conv())
    assert text.endswith("<|im_start|>user\nmore<|im_end|>\n<|im_start|>assistant\n")


def test_segments_splice_assistant_contents() -> None:
    segments = ChatTemplate(CHATML, "gguf").render_segments(conv())
    assert segments[1] == 2  # messages[2] is the assistant reply
    rebuilt = "".join(s if isinstance(s, str) else conv()[s].content for s in segments)
    assert rebuilt == ChatTemplate(CHATML, "gguf").render(conv())


def test_prefix_of_turn_k_equals_prompt_of_turn_k_minus_1() -> None:
    """The text before a reply is exactly the previous turn's prompt: what makes KV reuse possible."""
    tpl = ChatTemplate(CHATML, "gguf")
    previous = tpl.render(conv()[:2])
    segments = tpl.render_segments(conv())
    assert segments[0] == previous


def test_template_that_drops_replies_falls_back_to_one_string() -> None:
    tpl = ChatTemplate("{% for m in messages if m.role != 'assistant' %}{{ m.content }}{% endfor %}", "override")
    assert tpl.render_segments(conv()) == ["Shimore"]


def test_fallback_format_and_stops() -> None:
    tpl = ChatTemplate.fallback()
    assert tpl.render(conv()) == "S\n\nUser: hi\nAssistant: hello\n\nUser: more\nAssistant:"
    assert tpl.stop == FALLBACK_STOP and tpl.origin == "fallback"


def test_sandbox_and_errors() -> None:
    with pytest.raises(AssistantError, match="does not parse"):
        ChatTemplate("{% for %}", "override")
    with pytest.raises(AssistantError, match="refused"):
        ChatTemplate("{{ raise_exception('roles must alternate') }}", "override").render(conv())
    with pytest.raises(AssistantError):
        ChatTemplate("{{ ''.__class__.__mro__[1].__subclasses__() }}", "override").render(conv())


def test_stop_matcher_holds_back_partial_matches() -> None:
    m = StopMatcher(["\nUser:"])
    assert m.feed("Hello") == ("Hello", False)
    assert m.feed(" there\nUs") == (" there", False)
    assert m.feed("ually") == ("\nUsually", False)
    assert m.feed("\nUser: next") == ("", True)


def test_stop_matcher_flushes_what_it_held() -> None:
    m = StopMatcher(["###"])
    assert m.feed("a#") == ("a", False)
    assert m.flush() == "#"

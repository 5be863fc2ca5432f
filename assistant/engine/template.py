"""Chat templates: the GGUF's own (sandboxed Jinja), an override file, or the documented fallback.

``render_segments`` renders with every assistant message replaced by a marker, so the engine can
splice in the token ids it sampled for that reply instead of re-tokenizing its text: the rendered
history stays byte-stable and llama.cpp reuses the KV prefix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from assistant.engine.base import Message
from models.errors import AssistantError

# The fallback format for GGUFs without a template (e.g. the gemma3-270m base model). Documented in
# the README with its stop strings.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{{ m.content }}\n\n"
    "{% elif m.role == 'user' %}User: {{ m.content }}\n"
    "{% else %}Assistant: {{ m.content }}\n\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
FALLBACK_STOP = ["\nUser:", "\nAssistant:"]
FALLBACK_WARNING = (
    "This model has no chat template; using the plain 'User:/Assistant:' fallback format "
    "(stops at '\\nUser:'). Pass --chat-template FILE for a better one."
)

_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_MARK_RE = re.compile(f"{_MARK_OPEN}(\\d+){_MARK_CLOSE}")


def _raise(message: str) -> None:
    raise AssistantError(f"The chat template refused the conversation: {message}")


@dataclass
class ChatTemplate:
    source: str
    origin: str  # gguf / fallback / override
    bos_token: str = ""
    eos_token: str = ""
    stop: list[str] = field(default_factory=list)  # stop strings implied by the format

    def __post_init__(self) -> None:
        from jinja2 import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        try:
            self._template = env.from_string(self.source)
        except TemplateError as exc:
            raise AssistantError(f"The chat template does not parse ({exc}); pass a valid one with --chat-template.") from exc

    @classmethod
    def fallback(cls, bos_token: str = "", eos_token: str = "") -> ChatTemplate:
        return cls(FALLBACK_TEMPLATE, "fallback", bos_token, eos_token, list(FALLBACK_STOP))

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        from jinja2 import TemplateError

        try:
            return self._template.render(
                messages=[m.as_dict() for m in messages],
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except AssistantError:
            raise
        except (TemplateError, TypeError, ValueError, KeyError) as exc:
            raise AssistantError(f"The chat template failed to render ({exc}); pass another with --chat-template.") from exc

    def render_segments(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[str | int]:
        """Rendered text split into pieces: ``str`` for template text, ``int`` i for messages[i]'s content.

        Falls back to one plain string when the template alters or drops the assistant contents.
        """
        marked = [
            Message(m.role, f"{_MARK_OPEN}{i}{_MARK_CLOSE}") if m.role == "assistant" else m
            for i, m in enumerate(messages)
        ]
        text = self.render(marked, add_generation_prompt)
        expected = [i for i, m in enumerate(messages) if m.role == "assistant"]
        found = [int(x) for x in _MARK_RE.findall(text)]
        if found != expected:
            return [self.render(messages, add_generation_prompt)]
        out: list[str | int] = []
        pos = 0
        for match in _MARK_RE.finditer(text):
            if match.start() > pos:
                out.append(text[pos : match.start()])
            out.append(int(match.group(1)))
            pos = match.end()
        if pos < len(text):
            out.append(text[pos:])
        return out

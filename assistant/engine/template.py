"""Chat templates: the GGUF's own (sandboxed Jinja), an override file, or the documented fallback.

Every render is bounded in time, size and call depth (``sandbox.py``); a breach is one sentence
naming the template (the GGUF's own, or the --chat-template file) and the fix.

``render_segments`` renders with every assistant message replaced by a marker, so the engine can
splice in the token ids it sampled for that reply instead of re-tokenizing its text: the rendered
history stays byte-stable and llama.cpp reuses the KV prefix.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from assistant.engine.base import Message
from assistant.engine.sandbox import (
    MAX_DEPTH,
    MAX_TEMPLATE_CHARS,
    RENDER_SECONDS,
    STATE,
    BoundedEnvironment,
    Breach,
    Budget,
)
from models.errors import AssistantError

# The output cap: a few characters per context token (a prompt longer than that cannot fit), on top
# of the conversation's own text (the whole history is rendered before old turns are dropped).
CHARS_PER_CONTEXT_TOKEN = 8
MIN_OUTPUT_CHARS = 64 * 1024

# The fallback format for GGUFs without a template (e.g. the gemma3-270m base model). Documented in
# docs/ask.md with its stop strings.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{{ m.content }}\n\n"
    "{% elif m.role == 'user' %}User: {{ m.content }}\n"
    "{% else %}Assistant: {{ m.content }}\n\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
Shape = Callable[[Sequence[Message]], dict[str, Any]]  # messages -> the template's messages and tools
FALLBACK_STOP = ["\nUser:", "\nAssistant:"]
FALLBACK_WARNING = (
    "This model has no chat template; using the plain 'User:/Assistant:' fallback format "
    "(stops at '\\nUser:'). Pass --chat-template FILE for a better one."
)

_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_MARK_RE = re.compile(f"{_MARK_OPEN}(\\d+){_MARK_CLOSE}")


def _raise(message: str) -> None:
    raise AssistantError(f"The chat template refused the conversation: {_short(str(message))}")


class TemplateRefused(AssistantError):
    """A chat template that went past its bounds (time, size, depth) or cannot be used."""


def describe(origin: str, model_file: str = "") -> str:
    """Who wrote the template, for the first words of an error sentence."""
    if origin == "override":
        return "The --chat-template file"
    if origin == "fallback":
        return "The fallback chat template"
    if origin == "tools":
        return f"The tools chat template for {model_file}" if model_file else "The tools chat template"
    return f"The chat template inside {model_file}" if model_file else "The model's own chat template"


def output_cap(context_tokens: int, messages: Sequence[Message]) -> int:
    content = sum(len(m.content) for m in messages)
    return 2 * content + max(MIN_OUTPUT_CHARS, context_tokens * CHARS_PER_CONTEXT_TOKEN)


@dataclass
class ChatTemplate:
    source: str
    origin: str  # gguf / fallback / override
    bos_token: str = ""
    eos_token: str = ""
    stop: list[str] = field(default_factory=list)  # stop strings implied by the format
    model_file: str = ""  # the GGUF's file name, to name a template of origin "gguf" in errors
    context_tokens: int = 4096  # the context in use: the output cap is tied to it

    def __post_init__(self) -> None:
        from jinja2 import TemplateError

        env = BoundedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        self._env = env
        try:
            self._template = env.compile_bounded(self.source, Budget.for_output(MIN_OUTPUT_CHARS))
        except Breach as exc:
            raise self._breach(exc, MIN_OUTPUT_CHARS) from None
        except RecursionError:
            raise TemplateRefused(f"{self.who} nests too deeply to parse; {self._fix}.") from None
        except TemplateError as exc:
            raise AssistantError(f"{self.who} does not parse ({_short(exc)}); {self._fix}.") from exc

    @property
    def who(self) -> str:
        return describe(self.origin, self.model_file)

    @property
    def _fix(self) -> str:
        if self.origin == "override":
            return "fix it or pass another with --chat-template FILE"
        return "pass a working one with --chat-template FILE"

    def _breach(self, exc: Breach, cap: int) -> TemplateRefused:
        if exc.kind == "time":
            what = f"took more than {RENDER_SECONDS:g} s to render, so it was stopped"
        elif exc.kind == "depth":
            what = f"nests calls deeper than {MAX_DEPTH} levels, so it was stopped"
        elif exc.kind == "source":
            what = f"is longer than {MAX_TEMPLATE_CHARS // 1024} KB (real chat templates are a few KB)"
        else:
            what = (f"tried to build more than {cap:,} characters (the limit for this conversation in a "
                    f"{self.context_tokens}-token context), so it was stopped")
        return TemplateRefused(f"{self.who} {what}; {self._fix}.")

    @classmethod
    def fallback(cls, bos_token: str = "", eos_token: str = "", *, model_file: str = "",
                 context_tokens: int = 4096) -> ChatTemplate:
        return cls(FALLBACK_TEMPLATE, "fallback", bos_token, eos_token, list(FALLBACK_STOP), model_file, context_tokens)

    def budget(self, messages: Sequence[Message]) -> Budget:
        return Budget.for_output(output_cap(self.context_tokens, messages))

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True,
               budget: Budget | None = None, shape: Shape | None = None) -> str:
        """The prompt text; bounded by ``budget`` (by default a fresh one for these messages).
        ``shape`` turns the messages into the template's ``messages`` and ``tools`` variables when
        tools are on (assistant.tools.messages.template_inputs); without it, ``as_dict`` and no tools."""
        b = budget or self.budget(messages)
        template = self._template
        previous, STATE.budget = STATE.budget, b
        try:
            variables: dict[str, Any] = (
                shape(messages) if shape is not None else {"messages": [m.as_dict() for m in messages]}
            )
            variables.update(add_generation_prompt=add_generation_prompt, bos_token=self.bos_token,
                             eos_token=self.eos_token)
            context = template.new_context(variables)
            parts: list[str] = []
            total, cap, deadline = 0, b.max_output, b.deadline
            for chunk in template.root_render_func(context):
                total += len(chunk)
                if total > cap:
                    raise Breach("size")
                if time.monotonic() > deadline:
                    raise Breach("time")
                parts.append(chunk)
            return "".join(parts)
        except AssistantError:
            raise
        except Breach as exc:
            raise self._breach(exc, b.max_output) from None
        except RecursionError:
            raise self._breach(Breach("depth"), b.max_output) from None
        except MemoryError:
            raise self._breach(Breach("size"), b.max_output) from None
        except Exception as exc:  # a stranger's template may fail in any way Python can
            raise AssistantError(f"{self.who} failed to render ({type(exc).__name__}: {_short(exc)}); {self._fix}.") from exc
        finally:
            STATE.budget = previous

    def render_segments(self, messages: Sequence[Message], add_generation_prompt: bool = True,
                        shape: Shape | None = None) -> list[str | int]:
        """Rendered text split into pieces: ``str`` for template text, ``int`` i for messages[i]'s content.

        Falls back to one plain string when the template alters or drops the assistant contents.
        """
        marked = [
            dataclasses.replace(m, content=f"{_MARK_OPEN}{i}{_MARK_CLOSE}") if m.role == "assistant" else m
            for i, m in enumerate(messages)
        ]
        budget = self.budget(messages)  # one deadline for both renders
        text = self.render(marked, add_generation_prompt, budget, shape)
        expected = [i for i, m in enumerate(messages) if m.role == "assistant"]
        found = [int(x) for x in _MARK_RE.findall(text)]
        if found != expected:
            return [self.render(messages, add_generation_prompt, budget, shape)]
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


def _short(exc: BaseException | str, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

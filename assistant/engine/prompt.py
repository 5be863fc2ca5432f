"""Messages -> prompt token ids for an engine that owns its ``llama_cpp.Llama`` (BatchedEngine): the
chat template picked as LlamaEngine picks it (override, the GGUF's, the fallback), a tools template
where the model's own has no tools section, and each reply's sampled token ids spliced back in
place of its text so a later prompt repeats the cached tokens exactly (prefix reuse).

Tokenizing reads the model's vocabulary only (no context), so it runs on the caller's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from assistant.engine.base import Message
from assistant.engine.template import FALLBACK_WARNING, ChatTemplate
from models.errors import AssistantError
from models.gguf_file import GGUFInfo

if TYPE_CHECKING:
    from assistant.tools.formats import ToolFormat

MAX_TOKEN_CHARS = 256  # when the vocabulary is unknown: no real token is longer
REMEMBERED_REPLIES = 256


def pick_template(gguf: GGUFInfo, override: str | None, model_file: str, n_ctx: int) -> tuple[ChatTemplate, list[str]]:
    """The chat template (``--chat-template`` text, else the GGUF's, else the fallback) and its warnings."""
    tokens = gguf.tokens
    bos_id = gguf.metadata.get("tokenizer.ggml.bos_token_id")
    eos_id = gguf.metadata.get("tokenizer.ggml.eos_token_id")
    bos = tokens[bos_id] if isinstance(bos_id, int) and bos_id < len(tokens) else ""
    eos = tokens[eos_id] if isinstance(eos_id, int) and eos_id < len(tokens) else ""
    if override:
        return ChatTemplate(override, "override", bos, eos, model_file=model_file, context_tokens=n_ctx), []
    if gguf.chat_template:
        return ChatTemplate(gguf.chat_template, "gguf", bos, eos, model_file=model_file, context_tokens=n_ctx), []
    return ChatTemplate.fallback(bos, eos, model_file=model_file, context_tokens=n_ctx), [FALLBACK_WARNING]


class Prompter:
    """Token ids of a conversation or a raw prompt, with the replies' own ids spliced back in."""

    def __init__(self, llm: Any, gguf: GGUFInfo, template: ChatTemplate, *, tool_format_override: str | None = None,
                 tool_template_source: str | None = None) -> None:
        self.llm = llm
        self.template = template
        self._add_bos = bool(gguf.metadata.get("tokenizer.ggml.add_bos_token", False))
        # No token covers more text than its own piece: a prompt longer than n_ctx times this many
        # characters cannot fit, and is refused before it is tokenized.
        self.max_token_chars = max(
            (len(t.encode("utf-8", "surrogatepass")) for t in gguf.tokens), default=MAX_TOKEN_CHARS) or MAX_TOKEN_CHARS
        self._tool_format_override = tool_format_override
        self._tool_template_source = tool_template_source
        self._tool_template: ChatTemplate | None = None
        self._replies: dict[str, list[int]] = {}  # reply text -> the token ids sampled for it
        self._lock = threading.Lock()

    def wants_bos(self, text: str) -> bool:
        bos = self.template.bos_token
        return self._add_bos and not (bos and text.startswith(bos))

    def text(self, prompt: str) -> list[int]:
        """A raw prompt's ids (no chat template; special tokens parsed)."""
        return list(self.llm.tokenize(prompt.encode("utf-8"), add_bos=self.wants_bos(prompt), special=True))

    def messages(self, messages: Sequence[Message], tools: list[dict[str, Any]] | None = None) -> list[int]:
        template, shape = self.template, None
        if tools:
            from assistant.tools.messages import template_inputs

            template, fmt = self.tools_template()
            shape = lambda ms: template_inputs(ms, tools, fmt)  # noqa: E731
        out: list[int] = []
        for piece in template.render_segments(messages, shape=shape):
            if isinstance(piece, int):
                content = messages[piece].content
                with self._lock:
                    ids = self._replies.get(content)
                out.extend(ids if ids is not None else
                           self.llm.tokenize(content.encode("utf-8"), add_bos=False, special=False))
            else:
                add_bos = not out and self.wants_bos(piece)
                out.extend(self.llm.tokenize(piece.encode("utf-8"), add_bos=add_bos, special=True))
        return out

    def remember_reply(self, ids: list[int]) -> None:
        """Keep a finished reply's ids under its text, for the next turn's prompt."""
        text = self.llm.detokenize(ids).decode("utf-8", errors="replace")
        with self._lock:
            if len(self._replies) > REMEMBERED_REPLIES:
                self._replies.pop(next(iter(self._replies)))
            self._replies[text] = list(ids)

    def tools_template(self) -> tuple[ChatTemplate, ToolFormat]:
        """The template that renders tools (the model's, else its tools template) and the call format."""
        from assistant.tools.formats import ToolsUnsupported, detect_format

        main = self.template
        try:
            return main, detect_format(main.source, self._tool_format_override, who=main.who)
        except ToolsUnsupported:
            source = self._tool_template_source
            if source is None:
                raise
        if self._tool_template is None:
            self._tool_template = ChatTemplate(source, "tools", main.bos_token, main.eos_token,
                                               model_file=main.model_file, context_tokens=main.context_tokens)
        return self._tool_template, detect_format(source, self._tool_format_override, who=self._tool_template.who)


def require(prompter: Prompter | None) -> Prompter:
    if prompter is None:
        raise AssistantError("No model is loaded; load one first.")
    return prompter

"""``assistant ask``: one prompt in, one streamed answer out."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

from assistant.engine.base import Chunk, Message
from models.errors import AssistantError

if TYPE_CHECKING:
    from assistant.session.config import ChatOptions, SessionConfig


# More text than any model's context holds (1M tokens of a few characters); what is read stops here.
MAX_STDIN_CHARS = 32 * 1024 * 1024


def build_prompt(prompt: str, stdin: IO[str] | None) -> str:
    piped = ""
    if stdin is not None:
        try:
            piped = stdin.read(MAX_STDIN_CHARS + 1)
        except UnicodeDecodeError as exc:
            raise AssistantError("The text piped on stdin is not UTF-8; pipe text, not binary data.") from exc
        if len(piped) > MAX_STDIN_CHARS:
            raise AssistantError(
                f"The text piped on stdin is longer than {MAX_STDIN_CHARS // (1024 * 1024)} MB, more than any model's "
                "context holds; pipe a part of it (e.g. through head -c 100000)."
            )
    text = prompt.strip()
    if piped.strip():
        text = f"{text}\n\n{piped.rstrip()}" if text else piped.rstrip()
    if not text:
        raise AssistantError('The prompt is empty; pass one, e.g. assistant ask "How do I reverse a list?"')
    return text


def run_ask(text: str, opts: ChatOptions, *, stream: bool, out: IO[str]) -> dict[str, Any]:
    from assistant.session.config import session_config
    from assistant.session.start import start_engine

    cfg = session_config(opts)
    engine = start_engine(cfg)
    messages = ([Message("system", cfg.system)] if cfg.system else []) + [Message("user", text)]
    parts: list[str] = []
    last = Chunk("")
    try:
        for chunk in engine.stream(messages, cfg.params):
            parts.append(chunk.text)
            last = chunk
            if stream and chunk.text:
                out.write(chunk.text)
                out.flush()
    except KeyboardInterrupt:
        engine.cancel()
        if stream:
            out.write("\n")
        raise
    finally:
        engine.close()
    if stream:
        out.write("\n")
        out.flush()
    return json_result(parts, last, cfg)


def json_result(parts: list[str], last: Chunk, cfg: SessionConfig) -> dict[str, Any]:
    """What `ask --json` prints: the reply, how it ended, and its numbers."""
    stats = last.stats.as_dict() if last.stats else {}
    return {
        "text": "".join(parts),
        "finish_reason": last.finish_reason,
        **{key: stats.get(key) for key in ("prompt_tokens", "prompt_evaluated", "completion_tokens",
                                           "tokens_per_second", "time_to_first_token", "threads")},
        "model": cfg.model.name,
        "model_path": str(cfg.model.path),
    }

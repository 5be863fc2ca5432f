"""The typed options of a chat command and the one rule for merging them with defaults: the flag
wins, then the model's manifest defaults, then ours."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.errors import AssistantError

if TYPE_CHECKING:
    from assistant.engine.base import GenerationParams, LoadOptions
    from models.resolve import ResolvedModel


@dataclass(frozen=True)
class ChatOptions:
    """What a person chose on the command line (``None``: not given). Built once per command from
    click's arguments (assistant/commands/options.py) and passed down."""

    model: str | None = None
    ctx_size: int | None = None
    threads: int | None = None
    gpu_layers: int | None = None
    chat_template_file: Path | None = None
    force: bool = False
    verbose: bool = False
    system: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    ignore_eos: bool = False
    lora: str | None = None  # ADAPTER[:SCALE], a GGUF LoRA adapter over the model

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def with_model(self, model: str | None) -> ChatOptions:
        return dataclasses.replace(self, model=model)

    def chosen_sampling(self) -> dict[str, Any]:
        """The sampling values given on the command line (they override a reopened conversation's)."""
        from assistant.engine.base import GenerationParams

        return {k: getattr(self, k) for k in GenerationParams.SAMPLING_KEYS if getattr(self, k) is not None}

    def explicit(self) -> dict[str, Any]:
        """The sampling values and the system prompt given on the command line."""
        chosen = self.chosen_sampling()
        if self.system is not None:
            chosen["system"] = self.system
        return chosen

    def load_options(self) -> LoadOptions:
        from assistant.engine.base import LoadOptions

        return LoadOptions(
            n_ctx=self.ctx_size,
            n_threads=self.threads,
            n_gpu_layers=self.gpu_layers,
            chat_template=read_template_file(self.chat_template_file),
            force=self.force,
            verbose=self.verbose,
            **lora_option(self.lora),
        )


def lora_option(text: str | None) -> dict[str, Any]:
    """``ADAPTER[:SCALE]`` -> LoadOptions' ``lora`` and ``lora_scale``; one sentence when it is wrong."""
    if not text:
        return {}
    path, scale = text, 1.0
    head, sep, tail = text.rpartition(":")
    if sep and not Path(text).expanduser().exists():
        try:
            scale = float(tail)
        except ValueError:
            raise AssistantError(f"The scale in --lora {text} is not a number; write ADAPTER or ADAPTER:SCALE "
                                 "(for example adapter.gguf:0.5).") from None
        path = head
    adapter = Path(path).expanduser()
    if not adapter.is_file():
        raise AssistantError(f"The LoRA adapter {adapter} does not exist; pass a GGUF adapter file "
                             "(`assistant convert RUN --adapter` writes one).")
    return {"lora": adapter, "lora_scale": scale}


@dataclass
class SessionConfig:
    model: ResolvedModel
    load: LoadOptions
    params: GenerationParams
    system: str | None


def read_template_file(path: Path | None) -> str | None:

    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AssistantError(f"Cannot read the chat template {path} ({exc}); pass a readable Jinja file.") from exc
    if not text.strip():
        raise AssistantError(f"The chat template {path} is empty; pass a Jinja chat template.")
    return text


def session_config(opts: ChatOptions) -> SessionConfig:
    """Load options and sampling params from the flags, the model's manifest defaults, and ours."""
    from assistant.engine.base import GenerationParams
    from models.resolve import resolve

    resolved = resolve(opts.model)
    defaults = resolved.manifest.defaults.as_dict() if resolved.manifest else {}
    manifest_system = defaults.pop("system", None)
    system = opts.system if opts.system is not None else manifest_system
    params = GenerationParams().with_overrides(**defaults).with_overrides(**opts.chosen_sampling())
    params.ignore_eos = opts.ignore_eos
    return SessionConfig(resolved, opts.load_options(), params, system)

"""What every llama.cpp engine does once a model is open (LlamaEngine, BatchedEngine): the prompt
builder with the model's tool format and tools template, the end-of-generation token ids, and the
ModelInfo the front ends show."""

from __future__ import annotations

from typing import Any

from assistant.engine.base import ModelInfo
from assistant.engine.prompt import Prompter
from assistant.engine.template import ChatTemplate
from models.eot import end_of_generation_tokens
from models.gguf_file import GGUFInfo
from models.resolve import ResolvedModel


def tool_template_of(resolved: ResolvedModel) -> str | None:
    """A tools-capable template for the model: its manifest's ``tool_template`` (Jinja text), or the
    one shipped for a bundled model (models/templates/)."""
    from models import bundled

    text = resolved.manifest.extra.get("tool_template") if resolved.manifest else None
    if isinstance(text, str) and text.strip():
        return text
    if resolved.source == "bundled" and resolved.name in bundled.BUNDLED:
        return bundled.BUNDLED[resolved.name].tool_template_text()
    return None


def prompter_for(llm: Any, gguf: GGUFInfo, template: ChatTemplate, resolved: ResolvedModel) -> Prompter:
    """The prompt builder, with the manifest's ``tool_format`` and the model's tools template."""
    manifest = resolved.manifest
    override = manifest.extra.get("tool_format") if manifest else None
    return Prompter(llm, gguf, template, tool_format_override=override if isinstance(override, str) else None,
                    tool_template_source=tool_template_of(resolved))


def end_of_generation(llm: Any, gguf: GGUFInfo) -> tuple[set[int], list[str]]:
    """The ids that end a reply (the model's end-of-turn tokens and llama.cpp's own EOG) and their texts."""
    import llama_cpp

    pairs = end_of_generation_tokens(gguf)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    ids = {i for i, _ in pairs} | {i for i in (llm.token_eos(),) if i >= 0 and llama_cpp.llama_vocab_is_eog(vocab, i)}
    return ids, [text for _, text in pairs]


def model_info(resolved: ResolvedModel, gguf: GGUFInfo, template: ChatTemplate, *, n_ctx: int, backend: str,
               n_gpu_layers: int, eot_tokens: list[str], warnings: list[str], cores: int, n_threads: int) -> ModelInfo:
    manifest = resolved.manifest
    return ModelInfo(
        name=resolved.name,
        path=resolved.path,
        arch=gguf.arch,
        n_params=manifest.n_params if manifest and manifest.n_params else gguf.n_params,
        quant=gguf.quant,
        context_length=n_ctx,
        trained_context=gguf.context_length,
        backend=backend if n_gpu_layers != 0 else "CPU",
        template_origin=template.origin,
        eot_tokens=eot_tokens,
        size_bytes=gguf.file_size,
        warnings=warnings,
        spare_cores=max(0, cores - (n_threads if n_gpu_layers == 0 else 0)),
    )

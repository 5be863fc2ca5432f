"""Architectures, registered by the ``architectures[0]`` of a checkpoint's config.json."""

from __future__ import annotations

from convert.arch.base import Architecture, PlannedTensor
from convert.arch.gemma3 import Gemma3
from convert.arch.llama import Llama
from convert.arch.qwen2 import Qwen2
from convert.errors import ConvertError
from convert.source import Checkpoint

REGISTRY: dict[str, type[Architecture]] = {}
for _cls in (Llama, Qwen2, Gemma3):
    for _name in _cls.hf_names:
        REGISTRY[_name] = _cls


def supported() -> list[str]:
    return sorted(REGISTRY)


def architecture_for(ckpt: Checkpoint) -> Architecture:
    cls = REGISTRY.get(ckpt.architecture)
    if cls is None:
        raise ConvertError(
            f"{ckpt.architecture} is not supported by convert; supported: {', '.join(supported())}."
        )
    arch = cls(ckpt)
    arch.check()
    return arch


__all__ = ["REGISTRY", "Architecture", "PlannedTensor", "architecture_for", "supported"]

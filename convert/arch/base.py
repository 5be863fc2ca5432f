"""What every architecture module provides: hyperparameters for the GGUF and a plan of tensors.

An architecture maps HF tensor names with gguf-py's ``TensorNameMap`` and may transform a tensor
(llama's rotary permutation of q/k, gemma's norm offset). A :class:`PlannedTensor` knows its GGUF
name and final shape before any data is read, so the GGUF header is written first and the data
after it, one tensor at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import gguf
import numpy as np

from convert.errors import ConvertError
from convert.safetensors_lazy import LazyTensors, TensorRef
from convert.source import Checkpoint

Transform = Callable[[np.ndarray], np.ndarray]


@dataclass
class PlannedTensor:
    name: str  # GGUF name
    source: str  # HF name
    shape: tuple[int, ...]  # numpy order, after the transform
    src_dtype: str  # safetensors dtype of the source
    transform: Transform | None = None  # applied before the type conversion
    float_math: bool = False  # the transform needs float32 input (not only a reshuffle)
    keep_f32: bool = False  # norms and biases stay float32 whatever the output type
    rows: int | None = None  # keep only the first ``rows`` rows (vocabulary trimming)
    data: np.ndarray | None = None  # computed from the config (no source tensor)

    @property
    def n_dims(self) -> int:
        return len(self.shape)


class Architecture:
    """Base class; subclasses set ``hf_names``/``gguf_arch`` and override what differs."""

    hf_names: ClassVar[tuple[str, ...]] = ()
    gguf_arch: ClassVar[gguf.MODEL_ARCH]
    skip_suffixes: ClassVar[tuple[str, ...]] = ("rotary_emb.inv_freq",)

    def __init__(self, ckpt: Checkpoint) -> None:
        self.ckpt = ckpt
        self.hp: dict[str, Any] = ckpt.text_config
        self.n_layers = int(self.need("num_hidden_layers"))
        self.name_map = gguf.get_tensor_name_map(self.gguf_arch, self.n_layers)

    # ---------------------------------------------------------------- hyperparameters
    @property
    def arch_name(self) -> str:
        return gguf.MODEL_ARCH_NAMES[self.gguf_arch]

    def need(self, key: str) -> Any:
        if key not in self.hp or self.hp[key] is None:
            raise ConvertError(
                f"{self.ckpt.folder / 'config.json'} lacks {key!r}, which a {self.ckpt.architecture} needs; "
                "save the config with `save_pretrained` again."
            )
        return self.hp[key]

    @property
    def n_head(self) -> int:
        return int(self.need("num_attention_heads"))

    @property
    def n_head_kv(self) -> int:
        return int(self.hp.get("num_key_value_heads") or self.n_head)

    @property
    def head_dim(self) -> int:
        return int(self.hp.get("head_dim") or int(self.need("hidden_size")) // self.n_head)

    @property
    def vocab_size(self) -> int:
        return int(self.need("vocab_size"))

    @property
    def rope(self) -> dict[str, Any]:
        """Rope parameters in the transformers 5 layout (``rope_parameters``) or the older keys."""
        params = self.hp.get("rope_parameters")
        if isinstance(params, dict):
            return dict(params.get("full_attention", params))
        out: dict[str, Any] = dict(self.hp.get("rope_scaling") or {})
        if "type" in out and "rope_type" not in out:
            out["rope_type"] = out["type"]
        if self.hp.get("rope_theta") is not None:
            out["rope_theta"] = self.hp["rope_theta"]
        return out

    def write_hparams(self, w: gguf.GGUFWriter) -> None:
        hp = self.hp
        w.add_context_length(int(hp.get("max_position_embeddings") or 2048))
        w.add_embedding_length(int(self.need("hidden_size")))
        w.add_feed_forward_length(int(self.need("intermediate_size")))
        w.add_block_count(self.n_layers)
        w.add_head_count(self.n_head)
        w.add_head_count_kv(self.n_head_kv)
        w.add_layer_norm_rms_eps(float(hp.get("rms_norm_eps", 1e-6)))
        w.add_vocab_size(self.vocab_size)
        if hp.get("head_dim") is not None:
            w.add_key_length(self.head_dim)
            w.add_value_length(self.head_dim)
        rope = self.rope
        if rope.get("rope_theta") is not None:
            w.add_rope_freq_base(float(rope["rope_theta"]))
        self.write_rope_scaling(w, rope)

    def write_rope_scaling(self, w: gguf.GGUFWriter, rope: dict[str, Any]) -> None:
        kind, factor = rope.get("rope_type"), rope.get("factor")
        if kind in (None, "default") or factor is None:
            return
        if kind == "linear":
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(float(factor))
        elif kind == "yarn":
            w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            w.add_rope_scaling_factor(float(factor))
            w.add_rope_scaling_orig_ctx_len(int(rope["original_max_position_embeddings"]))
        elif kind != "llama3":  # llama3 scaling is written as a rope_freqs tensor by the llama module
            raise ConvertError(
                f"RoPE scaling {kind!r} in {self.ckpt.folder / 'config.json'} is not supported by convert yet; "
                "use llama.cpp's convert_hf_to_gguf.py for this model."
            )

    # ---------------------------------------------------------------- tensors
    def map_name(self, hf_name: str) -> str:
        mapped = self.name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if mapped is None and not hf_name.startswith(("model.", "lm_head")):
            mapped = self.name_map.get_name("model." + hf_name, try_suffixes=(".weight", ".bias"))
        if mapped is None:
            raise ConvertError(
                f"Tensor {hf_name} of the {self.ckpt.architecture} checkpoint has no GGUF name; "
                "the checkpoint has layers convert does not know (adapters must be merged first)."
            )
        return mapped

    def plan_one(self, ref: TensorRef) -> PlannedTensor:
        """Override to transform; the default maps the name and keeps the data."""
        name = self.map_name(ref.name)
        return PlannedTensor(name, ref.name, ref.shape, ref.dtype, keep_f32=len(ref.shape) <= 1)

    def extra_tensors(self) -> Iterator[PlannedTensor]:
        """Tensors computed from the config (llama3 rope_freqs)."""
        return iter(())

    def plan(self, tensors: LazyTensors) -> list[PlannedTensor]:
        planned = []
        for ref in tensors:
            if ref.name.endswith(self.skip_suffixes):
                continue
            if ref.name == "lm_head.weight" and self.tied(tensors):
                continue
            planned.append(self.plan_one(ref))
        planned.extend(self.extra_tensors())
        names = {p.name for p in planned}
        if "token_embd.weight" not in names:
            raise ConvertError(f"{self.ckpt.folder} has no token embedding tensor; the checkpoint is incomplete.")
        expected = self.n_layers
        for i in range(expected):
            if f"blk.{i}.attn_q.weight" not in names:
                raise ConvertError(
                    f"{self.ckpt.folder} lacks the weights of layer {i} (config says {expected} layers); "
                    "a shard is missing or the checkpoint is incomplete."
                )
        return planned

    def tied(self, tensors: LazyTensors) -> bool:
        """lm_head is dropped when embeddings are tied (llama.cpp reuses token_embd)."""
        return bool(self.hp.get("tie_word_embeddings", False)) or "lm_head.weight" not in tensors

    def check(self) -> None:
        """Refuse configs whose behaviour llama.cpp does not reproduce."""

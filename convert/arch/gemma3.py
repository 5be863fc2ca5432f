"""Gemma 3 (text): RMSNorm weights are stored as ``w`` but applied as ``1 + w``; llama.cpp's
gemma3 expects ``1 + w`` in the file. Sliding-window layers are written per layer from
``layer_types``; the embedding is trimmed to the tokenizer's real vocabulary."""

from __future__ import annotations

from typing import ClassVar

import gguf
import numpy as np

from convert.arch.base import Architecture, PlannedTensor
from convert.errors import ConvertError
from convert.safetensors_lazy import TensorRef


def _plus_one(a: np.ndarray) -> np.ndarray:
    return a + np.float32(1.0)


class Gemma3(Architecture):
    hf_names: ClassVar[tuple[str, ...]] = ("Gemma3ForCausalLM",)
    gguf_arch = gguf.MODEL_ARCH.GEMMA3
    n_vocab_real: int | None = None  # set by the pipeline from the tokenizer

    def check(self) -> None:
        scalar = self.hp.get("query_pre_attn_scalar")
        if scalar is not None and int(scalar) != self.head_dim and self.n_layers != 62:
            raise ConvertError(
                f"This Gemma 3 config scales attention by query_pre_attn_scalar={scalar}, not head_dim={self.head_dim}, "
                "which llama.cpp's gemma3 does not reproduce; set it to head_dim."
            )
        if self.hp.get("attn_logit_softcapping") is not None:
            raise ConvertError("Gemma 3 has no attention logit softcapping; this config sets one, so it is not a Gemma 3.")

    @property
    def rope(self) -> dict:
        params = self.hp.get("rope_parameters")
        if isinstance(params, dict) and "full_attention" in params:
            return dict(params["full_attention"])
        return super().rope

    def write_hparams(self, w: gguf.GGUFWriter) -> None:
        hp = self.hp
        w.add_context_length(int(hp.get("max_position_embeddings") or 131072))
        w.add_embedding_length(int(self.need("hidden_size")))
        w.add_feed_forward_length(int(self.need("intermediate_size")))
        w.add_block_count(self.n_layers)
        w.add_head_count(self.n_head)
        w.add_head_count_kv(self.n_head_kv)
        w.add_layer_norm_rms_eps(float(hp.get("rms_norm_eps", 1e-6)))
        w.add_key_length(self.head_dim)
        w.add_value_length(self.head_dim)
        w.add_vocab_size(self.n_vocab_real or self.vocab_size)
        rope = self.rope
        w.add_rope_freq_base(float(rope.get("rope_theta", 1_000_000.0)))
        self.write_rope_scaling(w, rope)
        params = hp.get("rope_parameters")
        local = params.get("sliding_attention", {}) if isinstance(params, dict) else {}
        local_theta = local.get("rope_theta", hp.get("rope_local_base_freq"))
        if local_theta is not None:
            w.add_rope_freq_base_swa(float(local_theta))
        if hp.get("final_logit_softcapping"):
            w.add_final_logit_softcapping(float(hp["final_logit_softcapping"]))
        if hp.get("sliding_window"):
            w.add_sliding_window(int(hp["sliding_window"]))
            layer_types = hp.get("layer_types")
            if isinstance(layer_types, list) and len(layer_types) == self.n_layers:
                w.add_sliding_window_pattern([t == "sliding_attention" for t in layer_types])
            elif hp.get("sliding_window_pattern"):
                w.add_sliding_window_pattern(int(hp["sliding_window_pattern"]))

    def plan_one(self, ref: TensorRef) -> PlannedTensor:
        planned = super().plan_one(ref)
        if ref.name.endswith("norm.weight"):
            planned.transform = _plus_one
            planned.float_math = True
        if planned.name == "token_embd.weight" and self.n_vocab_real and self.n_vocab_real < ref.shape[0]:
            planned.rows = self.n_vocab_real
            planned.shape = (self.n_vocab_real, *ref.shape[1:])
        return planned

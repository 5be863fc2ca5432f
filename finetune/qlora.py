"""QLoRA's base (``method=qlora``): the decoder's linear layers stored in 4-bit NF4 with double
quantization through bitsandbytes, computing in bf16; the embeddings and output layer in bf16 and only
the norms in fp32 (not the blanket fp32 upcast of every non-quantized parameter that peft's
``prepare_model_for_kbit_training`` does: an 8B base's fp32 embedding and output layer alone would
take 4 GiB).

:func:`check_can_run` runs before anything loads: it quantizes one small layer on the run's device
and takes a forward and backward step through it, so a device bitsandbytes cannot drive is one
sentence, not a failure minutes later.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from finetune.errors import FinetuneError


def device_name(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"this CPU ({platform.machine() or 'unknown'})"
    return device.type


def check_can_run(device: Any) -> str:
    """bitsandbytes' version when it runs 4-bit NF4 on ``device``; else one sentence naming the device
    and what to use instead."""
    from finetune.lora import quiet_bitsandbytes

    quiet_bitsandbytes()
    instead = "use method=lora (a bf16 base) here, or method=qlora on a CUDA GPU"
    try:
        import bitsandbytes as bnb
    except Exception as exc:  # ImportError, or a broken native library (OSError, RuntimeError)
        raise FinetuneError(f"method=qlora needs bitsandbytes, which cannot be imported here ({_short(exc)}); install it "
                            f"with `pip install bitsandbytes`, or {instead}.") from None
    try:
        _probe(bnb, device)
    except Exception as exc:  # whatever the backend raises for an unsupported device
        raise FinetuneError(f"bitsandbytes {getattr(bnb, '__version__', '?')} cannot run 4-bit NF4 on "
                            f"{device_name(device)} ({_short(exc)}); {instead}.") from None
    return str(getattr(bnb, "__version__", "?"))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160].rstrip(".")


def _probe(bnb: Any, device: Any) -> None:
    import torch

    layer = bnb.nn.Linear4bit(64, 64, bias=False, compute_dtype=torch.bfloat16, compress_statistics=True,
                              quant_type="nf4")
    layer = layer.to(device)
    x = torch.randn(2, 64, device=device, dtype=torch.bfloat16, requires_grad=True)
    y = layer(x)
    y.float().sum().backward()
    if x.grad is None or not torch.isfinite(y).all():
        raise RuntimeError("the probe's 4-bit layer gave no gradient or a non-finite output")


def quantization_config() -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def load_4bit(folder: Path, attn_implementation: str, device: Any) -> Any:
    """The base with its decoder's linear layers in NF4 (double quantization), everything else in
    bf16, on ``device``."""
    import torch
    from transformers import AutoModelForCausalLM

    from finetune.lora import quiet_bitsandbytes

    quiet_bitsandbytes()
    where = f"{device.type}:{device.index}" if device.index is not None else device.type
    return AutoModelForCausalLM.from_pretrained(folder, quantization_config=quantization_config(), dtype=torch.bfloat16,
                                                device_map={"": where}, attn_implementation=attn_implementation)


def upcast_norms(model: Any) -> int:
    """The normalisation layers' weights to fp32 (their statistics are computed in fp32 anyway); the
    rest stays as loaded. Returns how many modules changed."""
    count = 0
    for module in model.modules():
        if "norm" in type(module).__name__.lower() and any(True for _ in module.parameters(recurse=False)):
            module.float()
            count += 1
    return count

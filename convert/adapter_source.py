"""SRC is a LoRA adapter folder in peft's format (``adapter_config.json`` + ``adapter_model.safetensors``),
written by our ``finetune`` or elsewhere (peft, TRL, unsloth, axolotl): read and checked here, before
any weight is loaded, against the base it claims (modules, shapes, a tied output layer)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convert import checks
from convert.errors import ConvertError

if TYPE_CHECKING:
    from convert.arch import Architecture
    from convert.safetensors_lazy import LazyTensors

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PROVENANCE_FILE = "provenance.json"
PREFIX = "base_model.model."
_PAIR = re.compile(r"^(?P<module>.+)\.(?P<part>lora_A|lora_B)\.weight$")
_EMBED_PAIR = re.compile(r"^(?P<module>.+)\.(?P<part>lora_embedding_A|lora_embedding_B)$")
MERGE_INSTEAD = "export it merged instead (drop --adapter)"


@dataclass
class LoraModule:
    module: str  # the base's module, e.g. model.layers.0.self_attn.q_proj
    a: str  # the adapter's tensor names
    b: str
    rank: int
    in_features: int  # lora_A is (rank, in), lora_B (out, rank); an embedding's A is (rank, rows)
    out_features: int
    embedding: bool = False


@dataclass
class AdapterSource:
    folder: Path
    config: dict[str, Any]
    weights: Path
    modules: dict[str, LoraModule]
    others: list[str]  # tensors that are not LoRA pairs: DoRA magnitudes, trainable tokens, whole modules
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        name = self.folder.name
        return f"{self.folder.parent.name}/{name}" if re.match(r"^(final|last|best|epoch.*|checkpoint.*)$", name) else name

    @property
    def has_tokenizer(self) -> bool:
        return (self.folder / "tokenizer.json").is_file() or (self.folder / "tokenizer.model").is_file()

    @property
    def rank(self) -> int:
        return int(self.config["r"])

    @property
    def alpha(self) -> float:
        return float(self.config["lora_alpha"])

    @property
    def rslora(self) -> bool:
        return bool(self.config.get("use_rslora"))

    def scale(self, lm: LoraModule) -> float:
        """peft's scaling of one module: alpha / r, or alpha / sqrt(r) with rsLoRA (``alpha_pattern`` applies)."""
        alpha = float(_pattern(self.config.get("alpha_pattern"), lm.module, self.alpha))
        return alpha / math.sqrt(lm.rank) if self.rslora else alpha / lm.rank

    def export_refusal(self) -> str | None:
        """Why this adapter cannot be a GGUF LoRA adapter (one sentence), or None."""
        reason = None
        if self.config.get("use_dora") or any(n.endswith("lora_magnitude_vector") for n in self.others):
            reason = "uses DoRA (use_dora), whose magnitude vectors a GGUF LoRA adapter cannot carry"
        elif self.config.get("trainable_token_indices") or any("trainable_tokens" in n for n in self.others):
            reason = "changed embedding rows (trainable_token_indices), which a GGUF LoRA adapter cannot carry"
        elif self.provenance.get("adapter_export") is False:
            why = self.provenance.get("adapter_export_reason") or self.provenance.get("adapter_export_note")
            reason = (f"changed embedding rows ({str(why).rstrip('.')})" if why else
                      "changed embedding rows during training (provenance.json: adapter_export false)")
        elif self.config.get("modules_to_save") or self.others:
            what = self.config.get("modules_to_save") or sorted({n.rsplit(".", 1)[0] for n in self.others})[:3]
            reason = f"trains whole modules ({', '.join(map(str, what))}), not only LoRA matrices"
        elif any(m.embedding for m in self.modules.values()):
            reason = "puts LoRA on the token embedding"
        if reason is None:
            return None
        return f"{self.display_name} cannot be exported as a GGUF adapter: it {reason}; {MERGE_INSTEAD}."


def _pattern(patterns: Any, module: str, default: Any) -> Any:
    """peft's ``get_pattern_key``: a key matches the module name's tail."""
    for key, value in (patterns or {}).items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def is_adapter_dir(src: str) -> bool:
    """A folder with ``adapter_config.json``, or adapter weights without it (reported by ``open_adapter``)."""
    path = Path(src).expanduser()
    if path.is_file() and path.name == ADAPTER_CONFIG:
        path = path.parent
    return path.is_dir() and any((path / n).is_file() for n in (ADAPTER_CONFIG, ADAPTER_WEIGHTS, "adapter_model.bin"))


def open_adapter(src: str) -> AdapterSource:
    folder = Path(src).expanduser()
    if folder.is_file():
        folder = folder.parent
    config_path = folder / ADAPTER_CONFIG
    if not config_path.is_file():
        raise ConvertError(f"{folder} holds adapter weights but no {ADAPTER_CONFIG}; save the adapter with peft's "
                           "`save_pretrained`, which writes both.")
    config = checks.read_json(config_path, "adapter config")
    if not isinstance(config, dict):
        raise ConvertError(f"{config_path} is not a JSON object; save the adapter again with peft's `save_pretrained`.")
    kind = config.get("peft_type", "LORA")
    if str(kind).upper() != "LORA":
        raise ConvertError(f"{config_path} describes a {kind} adapter; convert takes LoRA adapters (peft_type LORA) only.")
    for key in ("r", "lora_alpha"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ConvertError(f"{config_path} has {key} {str(value)[:40]}, not a positive number; fix it or save the "
                               "adapter again with peft.")
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        if (folder / "adapter_model.bin").is_file():
            raise ConvertError(f"{folder} holds adapter_model.bin, not safetensors; save it again with "
                               "`save_pretrained(folder, safe_serialization=True)`.")
        raise ConvertError(f"{folder} has no {ADAPTER_WEIGHTS}; save the adapter with peft's `save_pretrained`.")
    from convert.safetensors_lazy import read_header

    modules, others = _pairs({ref.name: ref.shape for ref in read_header(weights)}, weights)
    if not modules:
        raise ConvertError(f"{weights} holds no LoRA weights (no lora_A / lora_B tensors); it is not a LoRA adapter.")
    prov_path = folder / PROVENANCE_FILE
    provenance = checks.read_json(prov_path, "provenance") if prov_path.is_file() else {}
    return AdapterSource(folder, config, weights, modules, others, provenance if isinstance(provenance, dict) else {})


def _pairs(shapes: dict[str, tuple[int, ...]], weights: Path) -> tuple[dict[str, LoraModule], list[str]]:
    halves: dict[str, dict[str, str]] = {}
    others = []
    for name in shapes:
        bare = name[len(PREFIX):] if name.startswith(PREFIX) else name
        match = _PAIR.match(bare) or _EMBED_PAIR.match(bare)
        if match is None:
            others.append(bare)
            continue
        halves.setdefault(match["module"], {})[match["part"][-1]] = name
    modules = {}
    for module, parts in halves.items():
        if set(parts) != {"A", "B"}:
            have, lack = ("lora_A", "lora_B") if "A" in parts else ("lora_B", "lora_A")
            raise ConvertError(f"{weights} is incomplete: {module} has {have} but no {lack}; save the adapter again.")
        a, b = shapes[parts["A"]], shapes[parts["B"]]
        if len(a) != 2 or len(b) != 2 or a[0] != b[1]:
            raise ConvertError(f"{weights} is corrupt: {module}'s lora_A {list(a)} and lora_B {list(b)} do not share a "
                               "rank; save the adapter again.")
        embedding = parts["A"].endswith("lora_embedding_A")
        modules[module] = LoraModule(module, parts["A"], parts["B"], a[0], a[1], b[0], embedding)
    return modules, others


def check_against_base(src: AdapterSource, arch: Architecture, tensors: LazyTensors, base_name: str) -> None:
    """Every LoRA module exists in the base with the shapes the adapter was trained on; none on a tied output."""
    declared = (src.config.get("auto_mapping") or {}).get("base_model_class")
    from convert.arch import REGISTRY

    if isinstance(declared, str) and declared in REGISTRY and declared != arch.ckpt.architecture:
        raise ConvertError(f"The adapter {src.display_name} was trained on a {declared} but the base {base_name} is a "
                           f"{arch.ckpt.architecture}; pass the base it was trained on with --base.")
    if "lm_head" in src.modules and arch.tied(tensors):
        raise ConvertError(f"The adapter {src.display_name} puts LoRA on the output layer lm_head, which {base_name} ties "
                           "to the token embedding (one tensor in llama.cpp); train it without lm_head in the targets.")
    missing, wrong = [], []
    for lm in src.modules.values():
        ref = tensors.refs.get(f"{lm.module}.weight")
        if ref is None:
            missing.append(lm.module)
            continue
        shape = (lm.in_features, lm.out_features) if lm.embedding else (lm.out_features, lm.in_features)
        if tuple(ref.shape) != shape:
            wrong.append(f"{lm.module} is {list(ref.shape)} in the base but {list(shape)} in the adapter")
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ConvertError(f"The adapter {src.display_name} names modules the base {base_name} ({arch.ckpt.architecture}, "
                           f"{arch.n_layers} layers) lacks: {shown}; pass the base it was trained on with --base.")
    if wrong:
        raise ConvertError(f"The adapter {src.display_name} does not fit the base {base_name}: {wrong[0]}; pass the base "
                           "it was trained on with --base.")


def eot_token_id(src: AdapterSource) -> int | None:
    """The end-of-turn id our finetune recorded (provenance ``eot_token_id``), if any."""
    value = src.provenance.get("eot_token_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None

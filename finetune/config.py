"""The typed training configuration: a recipe's defaults, then a YAML/TOML file, then ``key=value``.

The resolved configuration is saved beside every checkpoint (``finetune_config.yaml``) so a run can
be read, repeated and resumed.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.errors import FinetuneError

SMALL_MODEL_PARAMS = 7_000_000_000
OVERLONG = ("drop", "truncate")  # what happens to an example that does not fit max_length (finetune.fit)
EOT_INIT = ("auto", "eos", "mean", "keep")  # where the EOT's rows start (finetune.eot_init)  # "smaller models" in the LIMA paper: under ~7B parameters
METHODS = ("full", "lora", "qlora")  # every weight; peft LoRA on a frozen base; LoRA on a 4-bit NF4 base
ALL_LINEAR = "all-linear"  # lora_targets: every linear layer of the decoder layers (attention and MLP), never the output layer
# What an adapter method changes in a recipe unless the file or a key=value sets it. LoRA's rate is ~10x
# full fine-tuning's ("LoRA Without Regret", Schulman et al. 2025; docs/finetune.md); QLoRA recomputes
# activations as torchtune's and the QLoRA paper's recipes do.
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "lora": {"lr": 1e-4, "lr_end": 1e-5},
    "qlora": {"lr": 1e-4, "lr_end": 1e-5, "gradient_checkpointing": True},
}


@dataclass
class FinetuneConfig:
    """Every knob of a run. ``None`` means "decided from the model" (see :meth:`resolve`)."""

    recipe: str = "lima"
    # what trains (finetune/lora.py, finetune/qlora.py): full, lora or qlora; the lora_* keys apply to the last two
    method: str = "full"
    lora_r: int = 16  # rank of each adapter
    lora_alpha: int | None = None  # scale numerator; None: = lora_r (a scale of 1)
    lora_dropout: float = 0.0
    lora_targets: str = ALL_LINEAR  # all-linear (attention and MLP), or module names: q_proj,v_proj
    lora_rslora: bool = False  # scale alpha/sqrt(r) instead of alpha/r
    lora_dora: bool = False  # weight-decomposed LoRA (merged export only)
    # optimisation (LIMA, section 2: AdamW b1 0.9, b2 0.95, wd 0.1, lr 1e-5 -> 1e-6 linear, no warmup)
    epochs: int = 15
    lr: float = 1e-5
    lr_end: float = 1e-6
    warmup_steps: int = 0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    adam_eps: float = 1e-8
    weight_decay: float = 0.1
    max_grad_norm: float = 0.0  # 0 = no clipping (the paper names none)
    batch_size: int | None = None  # examples per optimizer step; 64 under ~7B parameters, else 32
    max_length: int = 2048  # tokens per example
    overlong: str = "drop"  # drop: rows whose reply would be cut (dialogues cut at a turn that fits); truncate
    residual_dropout: float | None = None  # at the last layer; 0.2 under ~7B, else 0.3; 0.0 at the first
    # data
    dialogues: bool = True  # the 30 multi-turn dialogues (the paper's 1,030-example model)
    template: str = "auto"  # auto, chatml, gemma
    eot_init: str = "auto"  # the EOT's starting rows: auto (measured), eos (the base's end of text), mean, keep
    val_examples: int = 32  # held out (seeded, single-turn) for the per-epoch stop diagnostics; 0 = none
    # checkpoints and evaluation
    save_epochs: list[int] = field(default_factory=lambda: [5, 6, 7, 8, 9, 10])
    dev_max_new_tokens: int = 256
    dev_temperature: float = 0.7  # LIMA's nucleus sampling: p 0.9, temperature 0.7, repetition penalty 1.2
    dev_top_p: float = 0.9
    dev_repetition_penalty: float = 1.2
    state_every_steps: int = 50  # resumable state (weights, optimizer, RNG, data position)
    # engineering
    seed: int = 0
    device: str = "auto"  # auto, cuda, mps, cpu
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 elsewhere), bf16, fp32
    micro_batch_tokens: int | None = None  # tokens (padding included) per forward; 16384 on CUDA, else 2048
    loss_chunk: int | None = None  # labelled positions per lm_head chunk; auto: ~256 MiB of fp32 logits
    gradient_checkpointing: bool = False
    attn_implementation: str = "sdpa"
    sharding: str = "auto"  # auto (FSDP2 from 1B parameters), ddp, fsdp

    def resolve(self, n_params: int, device_type: str = "cpu", vocab_size: int = 32000) -> FinetuneConfig:
        """Fill the model- and device-dependent defaults; the result is what gets saved."""
        small = n_params < SMALL_MODEL_PARAMS
        out = dataclasses.replace(self, save_epochs=list(self.save_epochs))
        if out.micro_batch_tokens is None:
            out.micro_batch_tokens = max(16384 if device_type == "cuda" else 2048, out.max_length)
        if out.batch_size is None:
            out.batch_size = 64 if small else 32
        if out.loss_chunk is None:  # 256 rows for Gemma's 262k vocabulary, ~1,365 for SmolLM2's 49k
            out.loss_chunk = max(128, 2**26 // vocab_size)
        if out.residual_dropout is None:
            out.residual_dropout = 0.2 if small else 0.3
        if out.method == "qlora" and out.precision == "auto":
            out.precision = "bf16"  # the 4-bit layers compute in bf16
        out.validate()
        return out

    def validate(self) -> None:
        problems = []
        if self.recipe not in RECIPES:
            problems.append(f"recipe {self.recipe!r} is unknown (known: {', '.join(RECIPES)})")
        if self.epochs < 1:
            problems.append("epochs must be at least 1")
        if self.lr <= 0 or self.lr_end < 0 or self.lr_end > self.lr:
            problems.append("lr must be positive and lr_end between 0 and lr")
        if self.batch_size is not None and self.batch_size < 1:
            problems.append("batch_size must be at least 1")
        if self.max_length < 16:
            problems.append("max_length must be at least 16")
        if self.residual_dropout is not None and not 0.0 <= self.residual_dropout < 1.0:
            problems.append("residual_dropout must be in [0, 1)")
        if self.overlong not in OVERLONG:
            problems.append(f"overlong must be drop or truncate, not {self.overlong!r}")
        if self.eot_init not in EOT_INIT:
            problems.append(f"eot_init must be auto, eos, mean or keep, not {self.eot_init!r}")
        if self.val_examples < 0:
            problems.append("val_examples must be 0 or more")
        if self.template not in ("auto", "chatml", "gemma"):
            problems.append("template must be auto, chatml or gemma")
        if self.device not in ("auto", "cuda", "mps", "cpu"):
            problems.append("device must be auto, cuda, mps or cpu")
        if self.precision not in ("auto", "bf16", "fp32"):
            problems.append("precision must be auto, bf16 or fp32")
        if self.sharding not in ("auto", "ddp", "fsdp"):
            problems.append("sharding must be auto, ddp or fsdp")
        if self.micro_batch_tokens is not None and self.micro_batch_tokens < self.max_length:
            problems.append("micro_batch_tokens must be at least max_length")
        if (self.loss_chunk is not None and self.loss_chunk < 1) or self.state_every_steps < 1:
            problems.append("loss_chunk and state_every_steps must be positive")
        problems += self._adapter_problems()
        if problems:
            raise FinetuneError(f"The training configuration is invalid: {'; '.join(problems)}.")

    def _adapter_problems(self) -> list[str]:
        problems = []
        if self.method not in METHODS:
            problems.append(f"method must be full, lora or qlora, not {self.method!r}")
        if self.lora_r < 1:
            problems.append(f"lora_r must be a whole number of at least 1, not {self.lora_r}")
        if self.lora_alpha is not None and not self.lora_alpha > 0:
            problems.append("lora_alpha must be positive (or unset: = lora_r)")
        if not 0.0 <= self.lora_dropout < 1.0:
            problems.append("lora_dropout must be in [0, 1)")
        names = [t.strip() for t in self.lora_targets.split(",")]
        if not all(n.replace("_", "").replace(".", "").replace("-", "").isalnum() for n in names):
            problems.append(f"lora_targets must be all-linear or comma-separated module names, not {self.lora_targets!r}")
        if self.method != "full" and self.sharding == "fsdp":
            problems.append("sharding=fsdp is for method=full; adapters train with DDP (sharding=auto or ddp)")
        if self.method == "qlora" and self.precision == "fp32":
            problems.append("method=qlora computes in bf16; drop precision=fp32 (or use method=lora)")
        return problems

    @property
    def adapters(self) -> bool:
        """Whether the run trains peft adapters on a frozen base (lora, qlora)."""
        return self.method != "full"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        import yaml

        path.write_text(
            "# The resolved training configuration of this run (finetune/config.py explains each key).\n"
            + yaml.safe_dump(self.to_dict(), sort_keys=False)
        )

    @classmethod
    def load(cls, path: Path) -> FinetuneConfig:
        return build_config(config_file=path)


RECIPES: dict[str, dict[str, Any]] = {
    # The LIMA paper's values are the dataclass defaults; a recipe may change any of them.
    "lima": {},
}


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(FinetuneConfig)


def _coerce(key: str, value: Any, kind: Any) -> Any:
    """Turn a value from a file or the command line into the field's type."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "auto")):
            return None
        return _coerce(key, value, next(a for a in args if a is not type(None)))
    if origin is list:
        if isinstance(value, str):
            value = _parse_int_list(value) if args == (int,) else [v for v in value.split(",") if v]
        return [_coerce(key, v, args[0]) for v in value]
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{value!r} is not true or false")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(float(value)) if isinstance(value, str) and "e" in value.lower() else int(value)
    if kind is float:
        return float(value)
    return str(value)


def _parse_int_list(text: str) -> list[int]:
    """``5-10`` or ``5,8,10`` or ``5-7,15``."""
    out: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return out


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FinetuneError(f"The config file {path} does not exist; pass a YAML or TOML file to --config.")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as exc:  # the parsers raise many types; all mean "not valid"
        raise FinetuneError(f"The config file {path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}.") from exc
    if not isinstance(data, dict):
        raise FinetuneError(f"The config file {path} must hold a mapping of keys to values.")
    return data


def build_config(
    recipe: str = "lima", config_file: Path | None = None, overrides: list[str] | None = None
) -> FinetuneConfig:
    """Recipe defaults, then the file, then ``key=value`` overrides; unknown keys are an error."""
    values: dict[str, Any] = {}
    file_values = _read_file(config_file) if config_file else {}
    recipe = str(file_values.get("recipe", recipe))
    if recipe not in RECIPES:
        raise FinetuneError(f"Unknown recipe {recipe!r}; known recipes: {', '.join(RECIPES)}.")
    values.update(RECIPES[recipe])
    values.update(file_values)
    values["recipe"] = recipe
    given = set(file_values)
    for item in overrides or []:
        if "=" not in item:
            raise FinetuneError(f"The override {item!r} is not key=value; write it like lr=2e-5.")
        key, raw = item.split("=", 1)
        values[key.strip().replace("-", "_")] = raw.strip()
        given.add(key.strip().replace("-", "_"))
    for key, value in METHOD_DEFAULTS.get(str(values.get("method", "full")), {}).items():
        if key not in given:  # the recipe's value for this method, unless the person set it
            values[key] = value
    kinds = _field_types()
    unknown = sorted(set(values) - set(kinds))
    if unknown:
        raise FinetuneError(
            f"Unknown config key(s) {', '.join(unknown)}; see `assistant finetune --help-config` for the keys."
        )
    typed: dict[str, Any] = {}
    for key, value in values.items():
        try:
            typed[key] = _coerce(key, value, kinds[key])
        except (ValueError, TypeError, StopIteration) as exc:
            raise FinetuneError(f"The config key {key} cannot be {value!r}: {exc}.") from exc
    config = FinetuneConfig(**typed)
    config.validate()
    return config


def describe_keys() -> str:
    """One line per key with its default, for ``--help-config``."""
    lines = []
    for f in dataclasses.fields(FinetuneConfig):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        lines.append(f"{f.name} = {default!r}")
    return "\n".join(lines)

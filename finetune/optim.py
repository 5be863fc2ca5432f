"""AdamW and the LIMA schedule: the learning rate decays linearly from ``lr`` to ``lr_end`` over the
run (after an optional warmup, none in the recipe)."""

from __future__ import annotations

import torch
from torch import nn

from finetune.config import FinetuneConfig


def lr_at(step: int, total_steps: int, config: FinetuneConfig) -> float:
    """The learning rate used by optimizer step ``step`` (0-based): ``lr`` at the first step,
    ``lr_end`` at the last."""
    if config.warmup_steps and step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    decay_steps = max(total_steps - 1 - config.warmup_steps, 1)
    progress = min(max(step - config.warmup_steps, 0) / decay_steps, 1.0)
    return config.lr + (config.lr_end - config.lr) * progress


def build_optimizer(model: nn.Module, config: FinetuneConfig) -> torch.optim.AdamW:
    """Weight decay on matrices only; biases, norms and 1-d parameters are not decayed (as in
    transformers' Trainer)."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups, lr=config.lr, betas=(config.adam_beta1, config.adam_beta2), eps=config.adam_eps, foreach=True
    )


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, config: FinetuneConfig) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_at(step, total_steps, config) / config.lr)

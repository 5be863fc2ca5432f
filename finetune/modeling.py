"""What the recipe does to the model: new or re-initialised EOT rows, residual dropout, and a loss computed only at
labelled positions, in chunks, so a 262k vocabulary never materialises full-sequence logits."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from finetune.template import IGNORE


def embedding_matrices(model: Any) -> list[torch.Tensor]:
    """The input embedding and, when it is not tied to it, the output (lm_head) weight."""
    matrices = [model.get_input_embeddings().weight]
    out = model.get_output_embeddings()
    if out is not None and out.weight.data_ptr() != matrices[0].data_ptr():
        matrices.append(out.weight)
    return matrices


def init_new_token_rows(model: Any, tokenizer: Any, new_tokens: list[str]) -> list[int]:
    """Make room for ``new_tokens`` and set their input (and untied output) rows to the mean of the
    existing rows; returns their ids."""
    if not new_tokens:
        return []
    ids = [tokenizer.convert_tokens_to_ids(t) for t in new_tokens]
    rows = model.get_input_embeddings().weight.shape[0]
    if max(ids) >= rows:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    mean_token_rows(model, ids, len(tokenizer))
    return ids


def mean_token_rows(model: Any, ids: list[int], vocab_size: int) -> None:
    """Set the rows of ``ids`` to the mean of the other rows of the vocabulary."""
    new = torch.tensor(ids)
    with torch.no_grad():
        for w in embedding_matrices(model):
            keep = torch.ones(w.shape[0], dtype=torch.bool)
            keep[new] = False
            keep[vocab_size:] = False  # rows past the vocabulary (padding to a multiple) are unused
            w[new] = w[keep].mean(dim=0)


def copy_token_rows(model: Any, source: int, target: int) -> int:
    """Copy token ``source``'s input (and untied output) rows into ``target``'s; returns how many
    matrices were changed (1 when tied: the output row is the same row)."""
    matrices = embedding_matrices(model)
    with torch.no_grad():
        for w in matrices:
            w[target] = w[source]
    return len(matrices)


class ResidualDropout:
    """A forward hook: dropout with probability ``p`` on a sub-layer's output, before the residual add."""

    def __init__(self, p: float) -> None:
        self.p = p

    def __call__(self, module: nn.Module, args: Any, output: Any) -> Any:
        if not module.training or self.p <= 0:
            return output
        if isinstance(output, tuple):
            return (F.dropout(output[0], self.p, True),) + output[1:]
        return F.dropout(output, self.p, True)


def decoder_layers(model: Any) -> nn.ModuleList:
    n = model.config.get_text_config().num_hidden_layers
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    raise ValueError(f"no list of {n} decoder layers in {type(model).__name__}")


def residual_branches(layer: Any) -> list[nn.Module]:
    """The modules whose outputs are added to the residual stream. Gemma 2/3 normalise each branch
    after it (post_attention_layernorm, post_feedforward_layernorm); Llama-like layers add the
    attention and MLP outputs directly (their post_attention_layernorm is the MLP's input norm)."""
    if hasattr(layer, "post_feedforward_layernorm"):
        return [layer.post_attention_layernorm, layer.post_feedforward_layernorm]
    return [layer.self_attn, layer.mlp]


def dropout_rates(n_layers: int, p_max: float) -> list[float]:
    """Linear from 0.0 at the first layer to ``p_max`` at the last (LIMA, section 2)."""
    if n_layers == 1:
        return [p_max]
    return [p_max * i / (n_layers - 1) for i in range(n_layers)]


def add_residual_dropout(model: Any, p_max: float) -> list[float]:
    rates = dropout_rates(len(decoder_layers(model)), p_max)
    for layer, p in zip(decoder_layers(model), rates):
        for branch in residual_branches(layer):
            branch.register_forward_hook(ResidualDropout(p))
    return rates


def logit_softcap(model: Any) -> float | None:
    """The model's final-logit soft cap (Gemma 2), or None."""
    return getattr(model.config.get_text_config(), "final_logit_softcapping", None)


def head_logits(model: Any, hidden: torch.Tensor, softcap: float | None) -> torch.Tensor:
    """fp32 logits of the output layer for ``hidden`` rows, soft-capped as the model does."""
    logits = model.get_output_embeddings()(hidden).float()
    return torch.tanh(logits / softcap) * softcap if softcap else logits


class LinearCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of ``hidden @ weight.T`` (optionally soft-capped) against ``targets``,
    ``chunk`` rows at a time. The gradients for ``hidden`` and ``weight`` are computed in the forward
    pass while each chunk's logits are alive (softmax minus one-hot), so the backward pass only
    scales them: three vocabulary-sized matmuls per chunk instead of four with recomputation, and no
    chunk of logits kept for backward."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,  # type: ignore[override]
                softcap: float | None, chunk: int) -> torch.Tensor:
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden)
        want_weight = ctx.needs_input_grad[1]  # a frozen output layer (LoRA) needs no gradient: one matmul less per chunk
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if want_weight else None
        for start in range(0, targets.shape[0], chunk):
            h, t = hidden[start : start + chunk], targets[start : start + chunk]
            logits = (h @ weight.t()).float()
            if softcap:
                capped = torch.tanh(logits / softcap)
                logits = capped * softcap
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            grad = torch.exp(logits - lse[:, None])
            grad[torch.arange(t.shape[0], device=t.device), t] -= 1.0
            if softcap:
                grad *= 1 - capped * capped
            grad = grad.to(h.dtype)  # hidden and weight share a dtype (LabelledLoss casts both under autocast)
            grad_hidden[start : start + chunk] = grad @ weight
            if grad_weight is not None:
                grad_weight += (grad.t() @ h).float()
        ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype) if grad_weight is not None else None)
        return total

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        grad_hidden, grad_weight = ctx.saved_tensors
        scaled = grad_weight * grad_out.to(grad_weight.dtype) if grad_weight is not None else None
        return grad_hidden * grad_out.to(grad_hidden.dtype), scaled, None, None, None


class LabelledLoss(nn.Module):
    """Wraps a causal LM; ``forward`` returns the summed cross-entropy over labelled positions (and
    their count). Hidden states come from the decoder; the lm_head runs only on the positions whose
    next token is labelled, ``chunk`` rows at a time (:class:`LinearCrossEntropy`), so at most one
    chunk of logits is alive."""

    def __init__(self, model: Any, chunk: int = 2048) -> None:
        super().__init__()
        self.model = model
        self.chunk = chunk
        self.softcap = logit_softcap(model)

    def _chunk_loss(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(head_logits(self.model, hidden, self.softcap), targets, reduction="sum")

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model.get_decoder()(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        hidden = out.last_hidden_state[:, :-1]
        targets = labels[:, 1:]
        where = targets != IGNORE
        hidden, targets = hidden[where], targets[where]
        head = self.model.get_output_embeddings()
        if torch.is_grad_enabled() and getattr(head, "bias", None) is None:
            weight = head.weight
            if torch.is_autocast_enabled(hidden.device.type):  # the matmuls in the autocast dtype, as nn.Linear would
                dtype = torch.get_autocast_dtype(hidden.device.type)
                hidden, weight = hidden.to(dtype), weight.to(dtype)
            return LinearCrossEntropy.apply(hidden, weight, targets, self.softcap, self.chunk), where.sum()
        total = hidden.new_zeros((), dtype=torch.float32)
        for start in range(0, targets.shape[0], self.chunk):
            h, t = hidden[start : start + self.chunk], targets[start : start + self.chunk]
            if torch.is_grad_enabled():
                total = total + checkpoint(self._chunk_loss, h, t, use_reentrant=False)
            else:
                total = total + self._chunk_loss(h, t)
        return total, where.sum()

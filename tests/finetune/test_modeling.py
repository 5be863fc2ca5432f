from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from finetune.config import build_config
from finetune.modeling import (
    LabelledLoss,
    ResidualDropout,
    add_residual_dropout,
    decoder_layers,
    dropout_rates,
    init_new_token_rows,
)
from finetune.optim import build_optimizer, build_scheduler, lr_at
from finetune.template import IGNORE, apply_to_tokenizer, choose_template


def _load(folder: Path) -> tuple[Any, Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    template = choose_template(tok)
    apply_to_tokenizer(tok, template)
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32), tok, template


def test_added_eot_rows_are_the_mean_embedding(tiny_llama: Path) -> None:
    model, tok, template = _load(tiny_llama)
    before_in = model.get_input_embeddings().weight.detach().clone()
    before_out = model.get_output_embeddings().weight.detach().clone()
    ids = init_new_token_rows(model, tok, template.added)
    emb, out = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert emb.shape[0] == len(tok) == before_in.shape[0] + 2 and out.shape[0] == len(tok)
    assert emb.data_ptr() != out.data_ptr()  # untied: both matrices got rows
    for new in ids:
        torch.testing.assert_close(emb[new], before_in.mean(0))
        torch.testing.assert_close(out[new], before_out.mean(0))
    torch.testing.assert_close(emb[: before_in.shape[0]], before_in)


def test_reused_turn_tokens_leave_the_vocabulary_alone(tiny_chatml: Path, tiny_gemma: Path) -> None:
    for folder in (tiny_chatml, tiny_gemma):
        model, tok, template = _load(folder)
        rows = model.get_input_embeddings().weight.shape[0]
        assert template.added == [] and init_new_token_rows(model, tok, template.added) == []
        assert model.get_input_embeddings().weight.shape[0] == rows


def test_dropout_rises_linearly_per_layer() -> None:
    assert dropout_rates(5, 0.2) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])
    assert dropout_rates(1, 0.3) == [0.3]


@pytest.mark.parametrize(("fixture", "branches"), [("tiny_llama", ("self_attn", "mlp")),
                                                   ("tiny_gemma", ("post_attention_layernorm", "post_feedforward_layernorm"))])
def test_dropout_hooks_sit_on_each_residual_branch(request: pytest.FixtureRequest, fixture: str, branches: tuple[str, str]) -> None:
    model, _, _ = _load(request.getfixturevalue(fixture))
    rates = add_residual_dropout(model, 0.3)
    assert rates == pytest.approx([0.0, 0.3])
    torch.manual_seed(0)
    for layer, p in zip(decoder_layers(model), rates):
        for name in branches:
            module = getattr(layer, name)
            hooks = [h for h in module._forward_hooks.values() if isinstance(h, ResidualDropout)]
            assert [h.p for h in hooks] == [p]
            module.train()
            dropped = hooks[0](module, (), torch.ones(200_000))
            assert float((dropped == 0).float().mean()) == pytest.approx(p, abs=0.01)
            module.eval()
            assert torch.equal(hooks[0](module, (), torch.ones(10)), torch.ones(10))


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_gemma"])
def test_chunked_loss_matches_full_logits(request: pytest.FixtureRequest, fixture: str) -> None:
    model, tok, _ = _load(request.getfixturevalue(fixture))
    torch.manual_seed(0)
    ids = torch.randint(5, len(tok) - 5, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    labels = ids.clone()
    labels[:, :4] = IGNORE
    labels[mask == 0] = IGNORE
    reference = model(input_ids=ids, attention_mask=mask, labels=labels)
    n = int((labels[:, 1:] != IGNORE).sum())
    (reference.loss * n).backward()
    want = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    total, count = LabelledLoss(model, chunk=3)(ids, mask, labels)
    total.backward()
    assert int(count) == n
    torch.testing.assert_close(total, reference.loss.detach() * n, rtol=1e-5, atol=1e-5)
    for g, w in zip((p.grad for p in model.parameters()), want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)


def test_learning_rate_schedule() -> None:
    c = build_config("lima")
    total = 255  # 15 epochs x 17 steps (1,030 examples, batch 64)
    assert lr_at(0, total, c) == pytest.approx(1e-5)
    assert lr_at(127, total, c) == pytest.approx(5.5e-6)
    assert lr_at(254, total, c) == pytest.approx(1e-6)
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model, c)
    sched = build_scheduler(opt, total, c)
    seen = []
    for _ in range(total):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen[0] == pytest.approx(1e-5) and seen[17] == pytest.approx(1e-5 - 17 * 9e-6 / 254)
    assert seen[-1] == pytest.approx(1e-6)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]  # bias not decayed
    warm = build_config("lima", None, ["warmup_steps=10"])
    assert lr_at(0, 100, warm) == pytest.approx(1e-6) and lr_at(10, 100, warm) == pytest.approx(1e-5)


@pytest.mark.parametrize("softcap", [None, 5.0])
def test_linear_cross_entropy_matches_autograd(softcap: float | None) -> None:
    import torch.nn.functional as F

    from finetune.modeling import LinearCrossEntropy

    torch.manual_seed(0)
    hidden = torch.randn(23, 8, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(50, 8, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 50, (23,))
    logits = hidden @ weight.t()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    (2.5 * F.cross_entropy(logits, targets, reduction="sum")).backward()
    want = hidden.grad.clone(), weight.grad.clone()  # type: ignore[union-attr]
    hidden.grad, weight.grad = None, None
    loss = LinearCrossEntropy.apply(hidden, weight, targets, softcap, 4)
    (2.5 * loss).backward()
    # the logits are taken in fp32 (as under autocast they are upcast): fp32 tolerances
    torch.testing.assert_close(loss.double(), F.cross_entropy(logits.detach(), targets, reduction="sum"), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(hidden.grad, want[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weight.grad, want[1], rtol=1e-5, atol=1e-6)


def test_micro_batches_split_where_padding_costs_more_than_a_forward() -> None:
    from finetune.batching import MICRO_BATCH_COST, micro_batches

    lengths = [500, 300, 200, 100, 100]
    got = micro_batches([0, 1, 2, 3, 4], lengths, 2048)
    assert got == [[0], [1, 2], [3, 4]]  # 500 | 2 x 300 | 2 x 100: 1,300 tokens in 3 forwards, not 2,500 in one
    assert micro_batches([3, 4], lengths, 2048) == [[3, 4]]  # equal lengths: one forward
    assert all(len(g) * max(lengths[i] for i in g) <= 2048 for g in micro_batches(list(range(5)), lengths, 600))
    assert micro_batches([0], [5000], 2048) == [[0]]  # one example longer than the budget still runs alone
    assert MICRO_BATCH_COST > 0

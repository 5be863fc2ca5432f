"""Verify a conversion: the GGUF must tokenize like the HF tokenizer, compute the logits that
transformers computes, and lose little perplexity when quantized. A failure is an error."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from convert.errors import VerifyFailed


def run(
    *,
    checkpoint: Path | None,
    unquantized: Path,
    quantized: Path | None,
    quant: str | None,
    outtype: str,
    special_tokens: list[str],
    chat_template: str | None = None,
    tokenization: bool = True,
    reference: Callable[[], Any] | None = None,
    against: str | None = None,
    lora: Path | None = None,
    extra: Callable[[Any, Any], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the checks that apply; return the report (the manifest's ``verify`` field).

    An adapter's conversion passes ``reference`` (the torch model the GGUF must compute: the base with
    the adapter, from peft), ``lora`` (the GGUF adapter applied over ``unquantized`` and ``quantized``)
    and ``extra`` (more checks run with the reference model and tokenizer: a dict of report sections).
    """
    from convert.verify import checks

    report: dict[str, Any] = {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    if checkpoint is not None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(max(1, torch.get_num_threads()))
        tok = AutoTokenizer.from_pretrained(str(checkpoint))
        if chat_template:  # render the chats with the template the GGUF carries (it may be --template's)
            tok.chat_template = chat_template
        if tokenization:
            report["tokenization"] = checks.tokenization(unquantized, tok, special_tokens)
        if reference is not None:
            model = reference()
        else:
            model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32)
            model.eval()
        try:
            report["logits"] = checks.logits(unquantized, model, tok, outtype, lora=lora, against=against)
            if extra is not None:
                report.update(extra(model, tok))
        finally:
            del model
    if quantized is not None and quant is not None:
        report["perplexity"] = checks.perplexity(unquantized, quantized, quant, lora=lora)
    report["passed"] = all(v.get("passed", True) for v in report.values() if isinstance(v, dict))
    return report


def lines(report: dict[str, Any]) -> list[str]:
    """The short printed report."""
    out = []
    tok = report.get("tokenization")
    if tok:
        mark = "ok" if tok["passed"] else "FAILED"
        out.append(f"tokenization  {mark:6}  {tok['identical']}/{tok['texts']} texts identical to the HF tokenizer "
                   f"({tok['chats']} chat renders)")
    lg = report.get("logits")
    if lg:
        mark = "ok" if lg["passed"] else "FAILED"
        dec = lg["top1_decisive"]
        dec_s = f", {dec:.3f} where decisive" if dec is not None else ""
        out.append(f"logits        {mark:6}  NMSE {lg['nmse']:.2e} (< {lg['nmse_max']:g}), top-1 {lg['top1']:.3f}"
                   f"{dec_s}, {lg['against']}")
    pp = report.get("perplexity")
    if pp:
        mark = "ok" if pp["passed"] else "FAILED"
        out.append(f"perplexity    {mark:6}  {pp['quantized']:.3f} vs {pp['unquantized']:.3f} unquantized, "
                   f"ratio {pp['ratio']:.4f} (<= {pp['ratio_max']})")
    return out + _adapter_lines(report)


def _adapter_lines(report: dict[str, Any]) -> list[str]:
    out = []
    ad = report.get("adapter")
    if ad:
        mark = "ok" if ad["passed"] else "FAILED"
        out.append(f"adapter       {mark:6}  greedy output differs from the bare base on {ad['differs_from_base']}/"
                   f"{ad['prompts']} prompts ({ad['base_from']}), same as peft on {ad['matches_peft']}/{ad['prompts']}")
    chat = report.get("chat")
    if chat:
        if not chat["applicable"]:
            out.append(f"chat          n/a     {chat['reason']}, so there is no stop to compare")
        else:
            mark = "ok" if chat["passed"] else "FAILED"
            out.append(f"chat          {mark:6}  ends its turn on {chat['token']} after {chat['after']} tokens, as peft's "
                       f"model does (top-1 agreement {chat['agree']:.2f})")
    tpl = report.get("template")
    if tpl:
        mark = "ok" if tpl["passed"] else "FAILED"
        eot = f"{tpl['eot_token']} ({tpl['eot_token_id']})" if tpl["eot_token_id"] is not None else "(none)"
        which = "the adapter's chat template" if tpl.get("expected") else "a chat template"
        out.append(f"template      {mark:6}  {which} {'is' if tpl['template_same'] else 'is NOT'} in the GGUF chat runs; "
                   f"end of turn {eot}")
    return out


def raise_if_failed(report: dict[str, Any]) -> None:
    if report.get("passed", True):
        return
    tok, lg, pp = report.get("tokenization"), report.get("logits"), report.get("perplexity")
    if tok and not tok["passed"]:
        first = tok["mismatches"][0]["text"] if tok["mismatches"] else "?"
        raise VerifyFailed(
            f"Verification failed: llama.cpp tokenizes {tok['texts'] - tok['identical']} of {tok['texts']} texts "
            f"differently from the HF tokenizer (first: {first!r}); nothing was kept."
        )
    if lg and not lg["passed"]:
        raise VerifyFailed(
            f"Verification failed: the GGUF's logits differ from transformers (NMSE {lg['nmse']:.2e}, "
            f"top-1 {lg['top1']:.3f}); nothing was kept."
        )
    _raise_adapter(report)
    if pp and not pp["passed"]:
        raise VerifyFailed(
            f"Verification failed: {pp['ratio']:.3f}x the unquantized perplexity (limit {pp['ratio_max']}); "
            "choose a larger --quant (e.g. q8_0); nothing was kept."
        )


def _raise_adapter(report: dict[str, Any]) -> None:
    ad, chat, tpl = report.get("adapter"), report.get("chat"), report.get("template")
    if ad and not ad["passed"]:
        if not ad["moves_in_transformers"]:
            raise VerifyFailed("Verification failed: the adapter does not change the model's greedy output even in "
                               "transformers (an untrained adapter?); nothing was kept.")
        raise VerifyFailed("Verification failed: the export's greedy output is the bare base's, so the adapter is "
                           "not applied; nothing was kept.")
    if chat and not chat["passed"]:
        raise VerifyFailed(f"Verification failed: the peft model ends a chat turn on {chat['token']} but llama.cpp "
                           "does not stop there; nothing was kept.")
    if tpl and not tpl["passed"]:
        raise VerifyFailed(f"Verification failed: {tpl['gguf']} lacks the adapter's chat template or end-of-turn token "
                           f"(id {tpl['eot_token_id']}); nothing was kept.")

"""Verify a conversion: the GGUF must tokenize like the HF tokenizer, compute the logits that
transformers computes, and lose little perplexity when quantized. A failure is an error."""

from __future__ import annotations

import datetime as _dt
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
) -> dict[str, Any]:
    """Run the checks that apply; return the report (the manifest's ``verify`` field)."""
    from convert.verify import checks

    report: dict[str, Any] = {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    if checkpoint is not None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(max(1, torch.get_num_threads()))
        tok = AutoTokenizer.from_pretrained(str(checkpoint))
        if chat_template:  # render the chats with the template the GGUF carries (it may be --template's)
            tok.chat_template = chat_template
        report["tokenization"] = checks.tokenization(unquantized, tok, special_tokens)
        model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32)
        model.eval()
        try:
            report["logits"] = checks.logits(unquantized, model, tok, outtype)
        finally:
            del model
    if quantized is not None and quant is not None:
        report["perplexity"] = checks.perplexity(unquantized, quantized, quant)
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
    if pp and not pp["passed"]:
        raise VerifyFailed(
            f"Verification failed: {pp['ratio']:.3f}x the unquantized perplexity (limit {pp['ratio_max']}); "
            "choose a larger --quant (e.g. q8_0); nothing was kept."
        )

"""Decode speed of `assistant ask` against llama.cpp's native llama-bench and llama-cpp-python's
high-level generate loop, on the default model, same GGUF and threads, exactly N tokens each.

Runs are interleaved (ours, native, high-level, ours, ...) so machine noise hits all three alike.
Also: time to first token, and prompt tokens evaluated versus new tokens at turns 2-5.
Last line: {"bench": "chat_throughput", "ratio": ours/native, ...}.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.llama_sdist import llama_tool  # noqa: E402


def ours(n: int, threads: int, seed: int) -> tuple[float, float, int]:
    """The ask code path in-process: returns (decode tokens/s, time to first token, prompt tokens)."""
    from assistant.ask.answer import run_ask
    from assistant.session.config import ChatOptions

    opts = ChatOptions(threads=threads, max_tokens=n, ignore_eos=True, seed=seed, temperature=0.8, ctx_size=2048)
    result = run_ask("Write a long story about a lighthouse keeper.", opts, stream=True, out=io.StringIO())
    assert result["completion_tokens"] == n, result
    return float(result["tokens_per_second"]), float(result["time_to_first_token"]), int(result["prompt_tokens"])


def native(binary: Path, model: Path, n: int, threads: int, depth: int) -> float:
    """llama-bench tg at the same depth as ours (its prompt is in the KV cache first)."""
    out = subprocess.run([str(binary), "-m", str(model), "-p", "0", "-n", str(n), "-d", str(depth), "-t", str(threads), "-r", "1",
                          "-o", "json"], capture_output=True, text=True, check=True).stdout
    return float(json.loads(out)[0]["avg_ts"])


def high_level(model: Path, n: int, threads: int, seed: int) -> tuple[float, int]:
    """Llama.generate on the same rendered prompt as ours: (tokens/s, prompt tokens)."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(model), n_ctx=2048, n_threads=threads, verbose=False, seed=seed,
                          flash_attn=True)  # as the engine (and llama-bench's auto) does
    prompt = llm.tokenize(b"<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                          b"<|im_end|>\n<|im_start|>user\nWrite a long story about a lighthouse keeper.<|im_end|>\n"
                          b"<|im_start|>assistant\n", add_bos=False, special=True)
    first = 0.0
    for count, _ in enumerate(llm.generate(prompt, temp=0.8, top_k=40, top_p=0.95, min_p=0.05,
                                           repeat_penalty=1.0), start=1):
        if count == 1:
            first = time.perf_counter()
        if count == n:
            break
    elapsed = time.perf_counter() - first
    llm.close()
    return (n - 1) / elapsed, len(prompt)


def turn_reuse(threads: int) -> list[dict[str, int]]:
    """Prompt tokens evaluated versus the new turn's tokens at turns 2-5 of one conversation."""
    from assistant.engine.base import GenerationParams, LoadOptions, Message, collect
    from assistant.engine.llama import LlamaEngine

    engine = LlamaEngine()
    engine.load(None, LoadOptions(n_ctx=4096, n_threads=threads))
    params = GenerationParams(temperature=0.0, max_tokens=48)
    questions = ["Name a planet.", "How far is it from the Sun?", "What is it made of?", "Who discovered it?",
                 "Summarise our chat."]
    msgs: list[Message] = []
    rows = []
    cached_prefix = 0
    for k, q in enumerate(questions, start=1):
        msgs.append(Message("user", q))
        total = engine.count_tokens(msgs)
        reply, last = collect(engine.stream(msgs, params))
        assert last.stats is not None
        if k > 1:
            rows.append({"turn": k, "prompt_tokens": total, "evaluated": last.stats.prompt_evaluated,
                         "new_turn_tokens": total - cached_prefix})
        msgs.append(Message("assistant", reply))
        cached_prefix = total + last.stats.completion_tokens
    engine.close()
    return rows


def summary(xs: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(xs), 2), "min": round(min(xs), 2), "max": round(max(xs), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    from assistant.engine.llama import physical_cores
    from assistant.session.start import quiet_native_logs
    from models.resolve import resolve

    os.environ.setdefault("ASSISTANT_HOME", str(ROOT / ".cache" / "bench-home"))
    model = resolve(None).path
    threads = physical_cores()
    binary = llama_tool("llama-bench")
    quiet_native_logs(verbose=False)
    ours_ts, ttft, native_ts, high_ts = [], [], [], []
    for i in range(args.runs):
        ts, first, depth = ours(args.tokens, threads, args.seed)
        ours_ts.append(ts)
        ttft.append(first)
        native_ts.append(native(binary, model, args.tokens, threads, depth))
        high, high_prompt = high_level(model, args.tokens, threads, args.seed)
        high_ts.append(high)
        if high_prompt != depth:
            raise SystemExit(f"the high-level prompt has {high_prompt} tokens, ours {depth}: not the same prompt")
        print(f"run {i + 1}: ours {ts:.1f}  native {native_ts[-1]:.1f}  high-level {high:.1f} tok/s "
              f"(after a {depth}-token prompt)", file=sys.stderr)
    reuse = turn_reuse(threads)
    # Median of the per-run ratios: each pair ran back to back, so slow drifts of this machine cancel.
    ratio = statistics.median(o / n for o, n in zip(ours_ts, native_ts))
    vs_high = statistics.median(o / h for o, h in zip(ours_ts, high_ts))
    result = {
        "bench": "chat_throughput",
        "ratio": round(ratio, 3),
        "anchor": f"llama.cpp llama-bench tg{args.tokens} at the same depth (native, same build flags, GGUF, threads)",
        "ours_vs_high_level": round(vs_high, 3),
        "tokens": args.tokens, "threads": threads, "runs": args.runs, "model": model.name,
        "ours_tok_s": summary(ours_ts), "native_tok_s": summary(native_ts), "high_level_tok_s": summary(high_ts),
        "time_to_first_token_s": summary(ttft),
        "turn_reuse": reuse,
    }
    for row in reuse:
        print(f"turn {row['turn']}: prompt {row['prompt_tokens']} tokens, evaluated {row['evaluated']}, "
              f"new turn {row['new_turn_tokens']}")
    print(f"ours {summary(ours_ts)} native {summary(native_ts)} high-level {summary(high_ts)} tok/s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Continuous batching in the engine: aggregate tokens/s of BatchedEngine (assistant/engine/batched.py)
with 1, 2 and 4 streams at once, against LlamaEngine answering the same 4 requests one after another
(the FIFO anchor: what `serve` does today), same GGUF, threads, context per reply, sampling and tokens.

In-process, no HTTP. Every request has a fresh prompt (same words, a new number) and `ignore_eos`, so
each reply is exactly N tokens and no prompt is answered from a cache; its prompt is evaluated
inside the measured time, as a server's would be. Aggregate = tokens delivered / wall time from the
first request to the last token. Runs interleave (anchor, 1, 2, 4 streams; the next run reversed).
Last line: {"bench": "batched_engine", "aggregate_ratio": ..., ...}, the ratio BatchedEngine at 4
streams over the FIFO anchor (median of the paired runs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.engine.base import Chunk, GenerationParams, LoadOptions, Message  # noqa: E402

PROMPT = "Story {i}: write a long story about a lighthouse keeper and a storm."


def params(tokens: int, seed: int) -> GenerationParams:
    return GenerationParams(temperature=0.8, top_p=0.95, seed=seed, max_tokens=tokens, ignore_eos=True)


def count(stream: Iterator[Chunk], tokens: int) -> None:
    chunks = list(stream)
    last = chunks[-1] if chunks else Chunk("")
    got = last.stats.completion_tokens if last.stats else 0
    if got != tokens:
        raise SystemExit(f"a reply had {got} tokens, not {tokens}: not the same work")


def fifo(stream: Callable[[list[Message], GenerationParams], Iterator[Chunk]], tokens: int, tag: str,
         clients: int) -> float:
    """The anchor: ``clients`` requests answered one after another."""
    start = time.perf_counter()
    for k in range(clients):
        count(stream([Message("user", PROMPT.format(i=f"{tag}-{k}"))], params(tokens, k)), tokens)
    return clients * tokens / (time.perf_counter() - start)


def concurrent(stream: Callable[[list[Message], GenerationParams], Iterator[Chunk]], tokens: int, tag: str,
               clients: int) -> float:
    """``clients`` requests at once, each read on its own thread."""
    errors: list[BaseException] = []

    def one(k: int) -> None:
        try:
            count(stream([Message("user", PROMPT.format(i=f"{tag}-{k}"))], params(tokens, k)), tokens)
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return clients * tokens / (time.perf_counter() - start)


def summary(xs: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(xs), 2), "min": round(min(xs), 2), "max": round(max(xs), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=128, help="tokens per reply")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for both [physical cores]")
    parser.add_argument("--ctx", type=int, default=2048, help="context per reply, both engines")
    parser.add_argument("--model", default=None, help="model name or GGUF [the default model]")
    args = parser.parse_args()

    from assistant.engine.batched import BatchedEngine
    from assistant.engine.llama import LlamaEngine, physical_cores
    from models.resolve import resolve

    os.environ.setdefault("ASSISTANT_HOME", str(ROOT / ".cache" / "bench-home"))
    resolved = resolve(args.model)
    threads = args.threads or physical_cores()
    options = LoadOptions(n_ctx=args.ctx, n_threads=threads)
    anchor = LlamaEngine()
    anchor.load(resolved, options)
    batched = BatchedEngine(4)
    batched.load(resolved, options)
    print(f"model {resolved.name}, {threads} threads, {args.tokens} tokens per reply, context {args.ctx} per reply",
          file=sys.stderr)

    def anchor_stream(m: list[Message], p: GenerationParams) -> Iterator[Chunk]:
        return anchor.stream(m, p)

    def batched_stream(m: list[Message], p: GenerationParams) -> Iterator[Chunk]:
        return batched.stream(m, p)

    try:
        fifo(anchor_stream, 16, "warm", 1)  # first-call costs out of the way
        concurrent(batched_stream, 16, "warm", 4)
        rows: list[dict[str, float]] = []
        for run in range(args.runs):
            jobs: list[tuple[str, Callable[..., float], Callable[..., Iterator[Chunk]], int]] = [
                ("fifo4", fifo, anchor_stream, 4), ("single", fifo, anchor_stream, 1),
                ("b1", concurrent, batched_stream, 1), ("b2", concurrent, batched_stream, 2),
                ("b4", concurrent, batched_stream, 4),
            ]
            row = {name: how(stream, args.tokens, f"{run}-{name}", clients)
                   for name, how, stream, clients in (jobs if run % 2 == 0 else jobs[::-1])}
            rows.append(row)
            print(f"run {run + 1}: FIFO (LlamaEngine, 4 one after another) {row['fifo4']:.1f} tok/s; BatchedEngine "
                  f"1 stream {row['b1']:.1f} (LlamaEngine alone {row['single']:.1f}), 2 streams {row['b2']:.1f}, "
                  f"4 streams {row['b4']:.1f} tok/s aggregate ({row['b4'] / row['fifo4']:.2f}x)", file=sys.stderr)
    finally:
        batched.close()
        anchor.close()

    result = {
        "bench": "batched_engine",
        "aggregate_ratio": round(statistics.median(r["b4"] / r["fifo4"] for r in rows), 3),
        "single_ratio": round(statistics.median(r["b1"] / r["single"] for r in rows), 3),
        "anchor": "LlamaEngine answering the same 4 requests one after another (FIFO, as serve does today), "
                  "same GGUF, threads, context per reply, sampling, tokens; medians of paired interleaved runs",
        "model": resolved.name, "threads": threads, "tokens": args.tokens, "runs": args.runs, "ctx": args.ctx,
        "aggregate_tok_s": {
            "fifo_4": summary([r["fifo4"] for r in rows]),
            "batched_1": summary([r["b1"] for r in rows]),
            "batched_2": summary([r["b2"] for r in rows]),
            "batched_4": summary([r["b4"] for r in rows]),
            "llama_engine_1": summary([r["single"] for r in rows]),
        },
    }
    print(f"4 streams: BatchedEngine {result['aggregate_tok_s']['batched_4']['median']} vs FIFO "
          f"{result['aggregate_tok_s']['fifo_4']['median']} tok/s aggregate (ratio {result['aggregate_ratio']}); "
          f"1 stream {result['single_ratio']} of LlamaEngine")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

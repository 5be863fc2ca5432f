"""`assistant serve` against llama.cpp's own `llama-server` (built from the llama-cpp-python sdist, as
llama-bench is for chat_throughput), same GGUF, threads, context and prompt, both streamed through the
same httpx client on /v1/chat/completions with `ignore_eos` so every reply is exactly N tokens.

One client: runs interleaved (ours then theirs, then theirs then ours, ...), each run a fresh prompt
(same words, a new number) so neither server answers from a cached prompt; decode tokens/s and time to
first token measured at the client; the medians of the paired ratios ours/theirs (targets: decode
>= 0.95, time to first token <= 1.1). Then 1, 2 and 4 clients at once: aggregate tokens/s of both, ours
with --parallel 4 (continuous batching, a unified KV cache of ctx x 4 cells), llama-server with
--parallel 4 -kvu -c ctx*4 (the same pool, the replies batched into one decode).
Last line: {"bench": "serve_vs_llamaserver", "decode_ratio": ..., "ttft_ratio": ...,
"concurrent": {"aggregate_ratio": ours/theirs at 4 clients, ...}}.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.llama_sdist import llama_tool  # noqa: E402

PROMPT = "Story {i}: write a long story about a lighthouse keeper and a storm."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], what: str, limit: float = 300) -> None:
    import httpx

    end = time.monotonic() + limit
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} was not ready after {limit:.0f}s")


def start_ours(model: str, threads: int, ctx: int, parallel: int, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    cmd = [sys.executable, "-m", "assistant", "serve", "--model", model, "--port", str(port), "--threads", str(threads),
           "--ctx-size", str(ctx), "--parallel", str(parallel), "--keep-alive", "-1", "--max-queue", "64", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("ab"))
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc, "assistant serve")
    return url, proc


def start_theirs(binary: Path, model: str, threads: int, ctx: int, parallel: int, gpu_layers: int,
                 log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    cmd = [str(binary), "-m", model, "--host", "127.0.0.1", "--port", str(port), "-t", str(threads), "-tb", str(threads),
           "-c", str(ctx * parallel), "--parallel", str(parallel), "-ngl", str(gpu_layers), "--no-webui"]
    if parallel > 1:
        cmd.append("-kvu")  # one KV pool of ctx x parallel cells shared by the slots, as ours
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc, "llama-server")
    return url, proc


def stream_once(url: str, model: str, prompt: str, tokens: int, seed: int) -> dict[str, float]:
    """One streamed reply of exactly ``tokens`` tokens: time to first token, decode tokens/s, prompt tokens."""
    import httpx

    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True, "max_tokens": tokens,
            "ignore_eos": True, "temperature": 0.8, "top_p": 0.95, "seed": seed,
            "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    first = last = 0.0
    pieces = 0
    usage: dict[str, Any] = {}
    with httpx.Client(timeout=600) as client, client.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
            choices = chunk.get("choices") or []
            if choices and choices[0].get("delta", {}).get("content"):
                now = time.perf_counter()
                first = first or now
                last = now
                pieces += 1
    n = int(usage.get("completion_tokens") or pieces)
    if n != tokens:
        raise SystemExit(f"{url} streamed {n} tokens, not {tokens}: not the same work")
    return {"ttft": first - start, "tok_s": (n - 1) / (last - first) if last > first else 0.0,
            "prompt_tokens": float(usage.get("prompt_tokens") or 0), "tokens": float(n)}


def concurrent(url: str, model: str, clients: int, tokens: int, run: int) -> float:
    """``clients`` streams at once; aggregate tokens/s from the first request sent to the last token."""
    results: list[dict[str, float]] = []
    errors: list[BaseException] = []

    def one(k: int) -> None:
        try:
            results.append(stream_once(url, model, PROMPT.format(i=f"{run}-{k}"), tokens, seed=k))
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise errors[0]
    return sum(r["tokens"] for r in results) / wall


def summary(xs: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(xs), 3), "min": round(min(xs), 3), "max": round(max(xs), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="paired single-client runs")
    parser.add_argument("--tokens", type=int, default=128, help="tokens per reply")
    parser.add_argument("--clients", type=int, default=4, help="most concurrent clients in the second phase (also 1 and 2)")
    parser.add_argument("--parallel", type=int, default=4, help="--parallel of ours (both phases) and of llama-server in the second phase")
    parser.add_argument("--concurrent-runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for both [physical cores]")
    parser.add_argument("--ctx", type=int, default=2048, help="context per reply, both servers")
    args = parser.parse_args()

    from assistant.engine.llama import gpu_backend, physical_cores
    from models.resolve import resolve

    os.environ.setdefault("ASSISTANT_HOME", str(ROOT / ".cache" / "bench-home"))
    resolved = resolve(None)
    model = str(resolved.path)
    threads = args.threads or physical_cores()
    gpu_layers = 0 if gpu_backend() == "CPU" else 99
    binary = llama_tool("llama-server")
    log = ROOT / ".cache" / "bench" / "serve_vs_llamaserver.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"model {resolved.name} ({model}), {threads} threads, {args.tokens} tokens per reply; logs in {log}",
          file=sys.stderr)

    ours_url, ours = start_ours(model, threads, args.ctx, args.parallel, log)
    theirs_url, theirs = start_theirs(binary, model, threads, args.ctx, 1, gpu_layers, log)
    name = resolved.path.stem  # ours accepts the --model's own name; llama-server ignores the field
    rows: list[dict[str, dict[str, float]]] = []
    try:
        for server in (ours_url, theirs_url):  # warm-up: first-request costs out of the way
            stream_once(server, name, PROMPT.format(i="warm"), 16, seed=0)
        for i in range(args.runs):
            order = [("ours", ours_url), ("theirs", theirs_url)]
            row = {}
            for label, server in order if i % 2 == 0 else order[::-1]:
                row[label] = stream_once(server, name, PROMPT.format(i=i), args.tokens, seed=i)
            rows.append(row)
            o, t = row["ours"], row["theirs"]
            print(f"run {i + 1}: decode ours {o['tok_s']:.1f} theirs {t['tok_s']:.1f} tok/s ({o['tok_s'] / t['tok_s']:.3f}); "
                  f"first token ours {o['ttft'] * 1000:.0f} theirs {t['ttft'] * 1000:.0f} ms ({o['ttft'] / t['ttft']:.3f}); "
                  f"prompt {o['prompt_tokens']:.0f}/{t['prompt_tokens']:.0f} tokens", file=sys.stderr)
    finally:
        theirs.terminate()
        theirs.wait(30)
    decode = [r["ours"]["tok_s"] / r["theirs"]["tok_s"] for r in rows]
    ttft = [r["ours"]["ttft"] / r["theirs"]["ttft"] for r in rows]

    theirs_url, theirs = start_theirs(binary, model, threads, args.ctx, args.parallel, gpu_layers, log)
    counts = sorted({1, 2, args.clients})
    ours_agg: dict[int, list[float]] = {n: [] for n in counts}
    theirs_agg: dict[int, list[float]] = {n: [] for n in counts}
    try:
        stream_once(theirs_url, name, PROMPT.format(i="warm"), 16, seed=0)
        for i in range(args.concurrent_runs):
            for n in counts:
                ours_agg[n].append(concurrent(ours_url, name, n, args.tokens, i))
                theirs_agg[n].append(concurrent(theirs_url, name, n, args.tokens, i))
                print(f"{n} clients, run {i + 1}: aggregate ours {ours_agg[n][-1]:.1f} theirs {theirs_agg[n][-1]:.1f} "
                      "tok/s", file=sys.stderr)
    finally:
        theirs.terminate()
        ours.terminate()
        theirs.wait(30)
        ours.wait(30)

    most = counts[-1]
    result: dict[str, Any] = {
        "bench": "serve_vs_llamaserver",
        "decode_ratio": round(statistics.median(decode), 3),
        "ttft_ratio": round(statistics.median(ttft), 3),
        "targets": {"decode_ratio": ">= 0.95", "ttft_ratio": "<= 1.1"},
        "anchor": "llama.cpp llama-server (same sdist and build flags, GGUF, threads, context, prompt), "
                  "streamed through the same httpx client, medians of paired interleaved runs",
        "tokens": args.tokens, "threads": threads, "runs": args.runs, "model": resolved.name,
        "ours_tok_s": summary([r["ours"]["tok_s"] for r in rows]),
        "theirs_tok_s": summary([r["theirs"]["tok_s"] for r in rows]),
        "ours_ttft_s": summary([r["ours"]["ttft"] for r in rows]),
        "theirs_ttft_s": summary([r["theirs"]["ttft"] for r in rows]),
        "concurrent": {"clients": counts,
                       "aggregate_ratio": round(statistics.median(ours_agg[most]) / statistics.median(theirs_agg[most]), 3),
                       "target": ">= 0.95 at the most clients",
                       "ours_aggregate_tok_s": {str(n): summary(ours_agg[n]) for n in counts},
                       "theirs_aggregate_tok_s": {str(n): summary(theirs_agg[n]) for n in counts},
                       "ours": f"--parallel {args.parallel}: continuous batching, unified KV of ctx x {args.parallel}",
                       "theirs": f"--parallel {args.parallel} -kvu -c ctx*{args.parallel}: the same pool, one decode"},
    }
    print(f"decode ours/theirs {result['decode_ratio']} (>= 0.95), first token ours/theirs {result['ttft_ratio']} (<= 1.1); "
          f"{most} clients: ours {summary(ours_agg[most])['median']} vs theirs {summary(theirs_agg[most])['median']} "
          f"tok/s aggregate ({result['concurrent']['aggregate_ratio']}, >= 0.95)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

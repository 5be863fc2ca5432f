"""Reopening a long conversation: time to the first token of the next reply when the conversation's
saved KV state is restored, against reading the whole conversation again (the anchor), on the
bundled model, in the same run; and the state file's bytes per token against the formula
(layers x (K row + V row) x 2 bytes for f16).

    python bench/reopen.py [--tokens 4000] [--runs 3] [--threads N]

Last line: {"bench": "reopen", "ratio": restored / evaluated time to first token (target <= 0.1), ...}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.engine.base import GenerationParams, LoadOptions, Message, collect  # noqa: E402
from assistant.engine.kv_state import StateStore  # noqa: E402
from assistant.engine.llama import LlamaEngine  # noqa: E402

PARAGRAPH = ("The river leaves the mountains in a narrow gorge, then slows across a wide plain where farmers "
             "have grown wheat and barley for three thousand years. Its floods once came every spring. ")


def conversation(tokens: int, engine: LlamaEngine) -> list[Message]:
    """User and assistant turns of about ``tokens`` tokens in all, then a new question."""
    messages: list[Message] = []
    turn = 0
    while engine.count_tokens(messages or [Message("user", "")]) < tokens:
        messages.append(Message("user", f"Part {turn}: tell me more about the river. " + PARAGRAPH * 2))
        messages.append(Message("assistant", PARAGRAPH * 3))
        turn += 1
    return messages


def load(threads: int | None, n_ctx: int, folder: Path) -> LlamaEngine:
    engine = LlamaEngine()
    engine.load("smollm2-135m-instruct", LoadOptions(n_ctx=n_ctx, n_threads=threads))
    engine._states = StateStore(folder, budget=1 << 40)  # the bench's own folder, no eviction
    return engine


def first_token(engine: LlamaEngine, messages: list[Message]) -> tuple[float, int]:
    _, last = collect(engine.stream(messages, GenerationParams(temperature=0.0, max_tokens=1)))
    assert last.stats is not None
    return last.stats.time_to_first_token, last.stats.prompt_evaluated


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=4000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    n_ctx = args.tokens + 1024
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first = load(args.threads, n_ctx, folder)
        history = conversation(args.tokens, first)
        collect(first.stream(history, GenerationParams(temperature=0.0, max_tokens=1)))
        first.save_state("bench")
        first._states.wait()
        held = len(first._ctx_tokens)
        info = first.info
        first.close()
        size = StateStore(folder).path("bench").stat().st_size
        question = [*history, Message("user", "In one sentence: what grows on the plain?")]
        restored, evaluated, read = [], [], []
        for _ in range(args.runs):
            engine = load(args.threads, n_ctx, folder)
            try:
                t0 = time.perf_counter()
                assert engine.restore_state("bench"), "the saved state did not restore"
                restore_s = time.perf_counter() - t0
                ttft, n = first_token(engine, question)
                restored.append(restore_s + ttft)  # reading the file back, then the new message
                read.append(n)
            finally:
                engine.close()
            engine = load(args.threads, n_ctx, folder)
            try:
                ttft, _ = first_token(engine, question)
                evaluated.append(ttft)
            finally:
                engine.close()
    from models.gguf_file import read_gguf

    assert info is not None
    meta = read_gguf(info.path).metadata
    arch = info.arch
    layers = int(meta[f"{arch}.block_count"])
    heads_kv = int(meta.get(f"{arch}.attention.head_count_kv", meta[f"{arch}.attention.head_count"]))
    head_dim = int(meta[f"{arch}.embedding_length"]) // int(meta[f"{arch}.attention.head_count"])
    formula = layers * 2 * heads_kv * head_dim * 2  # K and V rows, f16
    r, e = statistics.median(restored), statistics.median(evaluated)
    print(f"conversation of {held} tokens; restore + first token {r * 1000:.0f} ms (read {statistics.median(read):.0f} "
          f"new tokens), evaluated again {e * 1000:.0f} ms; state file {size / 2**20:.1f} MiB = "
          f"{size / held:.0f} bytes/token (formula {formula})")
    print(json.dumps({"bench": "reopen", "tokens": held, "restored_s": round(r, 4), "evaluated_s": round(e, 4),
                      "ratio": round(r / e, 3), "bytes_per_token": round(size / held), "formula_bytes_per_token": formula,
                      "threads": args.threads, "runs": args.runs}))


if __name__ == "__main__":
    main()

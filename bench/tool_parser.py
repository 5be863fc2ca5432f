"""The tool-call parser's cost per token against decoding without tools (target: under 2%).

1. Decode N tokens with the bundled model through `assistant.engine.llama.LlamaEngine` (no tools),
   keeping the pieces the engine streamed and its decode speed.
2. Replay those same pieces through `ToolCallParser` for every format, and through a pass-through
   that only collects them (what a reply without tools does), many times; the difference per piece
   is the parser's cost per token.
3. The same for text dense in marker characters (`<`, `[`, `{`: code and markup), and for a reply
   that carries a tool call, as worst cases.

Last line: {"bench": "tool_parser", "overhead_pct": ..., ...}; --no-model skips step 1 and reports the
parser's microseconds per token only (against a stated 10 ms/token).

    .venv/bin/python bench/tool_parser.py [--tokens 256] [--threads N] [--no-model]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.tools.formats import FORMATS  # noqa: E402
from assistant.tools.parser import ToolCallParser  # noqa: E402

OFFERED = {"get_weather": {"type": "object", "properties": {"city": {"type": "string"}}}}


def decode(tokens: int, threads: int | None) -> tuple[list[str], float]:
    """(pieces streamed, seconds per decoded token) for one reply without tools."""
    from assistant.engine.base import GenerationParams, LoadOptions, Message
    from assistant.engine.llama import LlamaEngine

    engine = LlamaEngine()
    engine.load(None, LoadOptions(n_ctx=2048, n_threads=threads))
    pieces, tps = [], 0.0
    try:
        messages = [Message("user", "Write a long story about a lighthouse keeper, with some code in it.")]
        for chunk in engine.stream(messages, GenerationParams(max_tokens=tokens, ignore_eos=True, seed=1)):
            if chunk.text:
                pieces.append(chunk.text)
            if chunk.stats is not None:
                tps = chunk.stats.tokens_per_second
    finally:
        engine.close()
    return pieces, 1.0 / tps if tps else 0.0


def per_piece(pieces: list[str], fmt: str | None, repeats: int) -> float:
    """Seconds per piece: the parser of `fmt`, or (None) a pass-through that collects the text."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats):
            if fmt is None:
                out = []
                for p in pieces:
                    out.append(p)
            else:
                parser = ToolCallParser(FORMATS[fmt], OFFERED)
                for p in pieces:
                    parser.feed(p)
                parser.finish()
        best = min(best, (time.perf_counter() - started) / (repeats * len(pieces)))
    return best


def synthetic(kind: str) -> list[str]:
    if kind == "markup":
        text = "if a < b and c[0] > {x: 1}: print('<b>[ok]</b>') # <tool> [TOOL] {\"n\": 1}\n" * 40
    else:  # a reply with a Hermes call in the middle
        text = ("Let me look that up for you. " * 10 + '<tool_call>\n{"name": "get_weather", "arguments": '
                '{"city": "Zürich"}}\n</tool_call>' + " Done." * 10)
    return [text[i : i + 4] for i in range(0, len(text), 4)]  # ~4 characters per token


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--no-model", action="store_true", help="skip decoding; compare against 10 ms/token")
    args = ap.parse_args()

    if args.no_model:
        pieces, per_token, against = synthetic("markup")[:256], 0.010, "a stated 10 ms/token"
    else:
        pieces, per_token = decode(args.tokens, args.threads)
        against = f"measured decode, bundled model, {len(pieces)} pieces"
    base = per_piece(pieces, None, args.repeats)
    rows = {}
    for name in FORMATS:
        rows[name] = per_piece(pieces, name, args.repeats) - base
    worst = max(rows, key=lambda k: rows[k])
    markup = {n: per_piece(synthetic("markup"), n, args.repeats // 4) - base for n in ("hermes", "llama3", "mistral")}
    with_call = per_piece(synthetic("call"), "hermes", args.repeats // 4) - base
    print(f"decode: {per_token * 1e3:.2f} ms/token ({against})")
    print(f"pass-through: {base * 1e6:.3f} us/piece")
    for name, cost in rows.items():
        print(f"  {name:14s} +{cost * 1e6:6.2f} us/token  = {100 * cost / per_token:.3f}% of decode")
    for name, cost in markup.items():
        print(f"  markup-dense {name:8s} +{cost * 1e6:6.2f} us/token  = {100 * cost / per_token:.3f}% of decode")
    print(f"  reply with a call (hermes) +{with_call * 1e6:6.2f} us/token = {100 * with_call / per_token:.3f}%")
    overhead = 100 * max(rows[worst], *markup.values(), with_call) / per_token
    print(json.dumps({"bench": "tool_parser", "decode_ms_per_token": round(per_token * 1e3, 3),
                      "parser_us_per_token_worst_format": round(rows[worst] * 1e6, 3), "worst_format": worst,
                      "overhead_pct": round(overhead, 4), "target_pct": 2.0, "against": against}))


if __name__ == "__main__":
    main()

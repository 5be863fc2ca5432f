"""The bundled SmolLM2-135M-Instruct calling tools through its tools template, as `assistant serve`
runs it: 30 prompts, 20 that need one of 3 tools (get_weather, calculator, read_file) and 10 that
need none, greedy, each through the server's tool plan (assistant.serve.tool_calls.plan: the same
grammar, from assistant.tools.grammar) and read back as the server does (CallReader).

Modes: ``off`` (tool_choice auto, no grammar), ``lazy`` (auto with the lazy grammar from the
format's marker: `assistant serve --tool-grammar lazy`), and ``required`` on the 20 (the grammar
from the first token: the ceiling of valid calls).

For each mode: the share of the 20 whose first call is valid (it parses, names an offered tool and
its arguments fit the schema), with the right tool, with the right arguments (a city or path equal
up to case and spaces; an expression that computes the expected number), malformed call attempts,
and false calls on the 10 (replies with a call where none was needed); tokens and decode seconds.
Last line: {"bench": "tools_smollm2", "ratio": lazy/off tokens per second (what the lazy grammar costs;
the prompts are interleaved across modes), "off": {...}, "lazy": {...}, "required": {...}}.

    .venv/bin/python bench/tools_smollm2.py [--threads N] [--max-tokens 96] [--modes off,lazy,required]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def tool(name: str, description: str, arg: str, arg_description: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": {arg: {"type": "string", "description": arg_description}}, "required": [arg]}}}


TOOLS = [
    tool("get_weather", "Get the current weather in a city.", "city", "The city, e.g. Paris"),
    tool("calculator", "Evaluate an arithmetic expression.", "expression", "The expression, e.g. 2 * (3 + 4)"),
    tool("read_file", "Read a text file and return its contents.", "path", "The file's path"),
]

# (prompt, tool, its one argument's expected value: a city, a path, or the number an expression gives)
NEED: list[tuple[str, str, str | float]] = [
    ("What's the weather like in Paris right now?", "get_weather", "Paris"),
    ("Is it raining in London today?", "get_weather", "London"),
    ("Tell me the current temperature in Tokyo.", "get_weather", "Tokyo"),
    ("How windy is it in Chicago?", "get_weather", "Chicago"),
    ("Should I bring an umbrella in Berlin today? Check the weather.", "get_weather", "Berlin"),
    ("Get the weather forecast for Madrid.", "get_weather", "Madrid"),
    ("What is the weather in New York?", "get_weather", "New York"),
    ("What is 17 multiplied by 23?", "calculator", 391),
    ("Calculate 1024 divided by 16.", "calculator", 64),
    ("What is 345 plus 678?", "calculator", 1023),
    ("Compute (12 + 8) * 3.", "calculator", 60),
    ("What is 2 to the power of 10?", "calculator", 1024),
    ("How much is 15% of 240?", "calculator", 36),
    ("What is 1000 minus 357?", "calculator", 643),
    ("Show me the contents of notes.txt.", "read_file", "notes.txt"),
    ("Read the file /home/user/todo.md for me.", "read_file", "/home/user/todo.md"),
    ("Open config.yaml and tell me what's in it.", "read_file", "config.yaml"),
    ("What does the file README.md say?", "read_file", "README.md"),
    ("Print the file data/report.csv.", "read_file", "data/report.csv"),
    ("Can you read /etc/hostname?", "read_file", "/etc/hostname"),
]
NONE = [
    "Hi! How are you?",
    "Write a short poem about autumn.",
    "What is the capital of France?",
    "Translate 'good morning' into Spanish.",
    "Tell me a joke about cats.",
    "Who wrote Romeo and Juliet?",
    "Give me three tips for better sleep.",
    "What is photosynthesis?",
    "Say thank you in German.",
    "Summarize the plot of Cinderella in one sentence.",
]
ARG = {"get_weather": "city", "calculator": "expression", "read_file": "path"}


def right_arguments(name: str, args: dict[str, Any], expected: str | float) -> bool:
    value = args.get(ARG[name])
    if not isinstance(value, str):
        return False
    if name == "calculator":
        from assistant.tools.calculator import calculate

        try:
            return abs(float(calculate(value.replace("^", "**").replace("%", "/100*"))) - float(expected)) < 1e-6
        except Exception:
            return False
    return " ".join(value.split()).casefold() == str(expected).casefold()


def ask(engine: Any, prompt: str, mode: str, max_tokens: int) -> dict[str, Any]:
    """One reply as the server gives it: the calls (and bad ones), tokens and seconds."""
    from assistant.engine.base import GenerationParams, Message
    from assistant.serve.tool_calls import plan
    from assistant.serve.tool_replies import CallReader
    from assistant.tools.validate import schema_problem

    tools = plan(TOOLS, "required" if mode == "required" else "auto", lazy=mode == "lazy")
    assert tools is not None
    params = GenerationParams(temperature=0, max_tokens=max_tokens, tools=tools.tools)
    tools.prepare(engine, params)
    text, stats = "", None
    for chunk in engine.stream([Message("user", prompt)], params):
        text += chunk.text
        stats = chunk.stats or stats
    reader = CallReader(tools)
    pieces = reader.read(text)
    schemas = tools.offered()
    first = reader.calls[0] if reader.calls else None
    valid = first is not None and schema_problem(first.name, schemas[first.name], first.arguments) is None
    bad = sum(1 for p in pieces if isinstance(p, str) and p.lstrip().startswith("<tool_call>"))
    return {"text": text, "first": first, "valid": valid, "bad": bad,
            "tokens": stats.completion_tokens if stats else 0, "seconds": stats.total_seconds if stats else 0.0}


class Tally:
    def __init__(self) -> None:
        self.valid = self.right_tool = self.right_args = self.bad = self.false_calls = self.tokens = 0
        self.seconds = 0.0

    def add(self, r: dict[str, Any]) -> None:
        self.bad += r["bad"]
        self.tokens += r["tokens"]
        self.seconds += r["seconds"]

    def result(self, mode: str) -> dict[str, Any]:
        n = len(NEED)
        out: dict[str, Any] = {"valid_calls": self.valid / n, "right_tool": self.right_tool / n,
                               "right_arguments": self.right_args / n, "malformed_calls": self.bad,
                               "tokens": self.tokens, "seconds": round(self.seconds, 2),
                               "tokens_per_second": round(self.tokens / self.seconds, 1) if self.seconds else 0.0}
        if mode != "required":
            out["false_calls"] = self.false_calls / len(NONE)
        return out


def run(engine: Any, modes: list[str], max_tokens: int, verbose: bool) -> dict[str, Any]:
    """Every prompt through every mode in turn (interleaved, so the machine's load falls on all alike)."""
    tallies = {mode: Tally() for mode in modes}
    for prompt, name, expected in NEED:
        for mode in modes:
            r = ask(engine, prompt, mode, max_tokens)
            t, first = tallies[mode], r["first"]
            t.add(r)
            t.valid += r["valid"]
            t.right_tool += bool(first and first.name == name)
            t.right_args += bool(first and first.name == name and right_arguments(name, first.arguments, expected))
            if verbose:
                print(f"  [{mode}] {prompt!r} -> {r['text']!r}", flush=True)
    for prompt in NONE:
        for mode in modes:
            if mode == "required":
                continue
            r = ask(engine, prompt, mode, max_tokens)
            tallies[mode].add(r)
            tallies[mode].false_calls += bool(r["first"])
            if verbose:
                print(f"  [{mode}] {prompt!r} -> {r['text']!r}", flush=True)
    return {mode: t.result(mode) for mode, t in tallies.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--modes", default="off,lazy,required")
    ap.add_argument("--verbose", action="store_true", help="print every reply")
    args = ap.parse_args()

    from assistant.engine.base import LoadOptions
    from assistant.engine.llama import LlamaEngine

    engine = LlamaEngine()
    engine.load(None, LoadOptions(n_ctx=2048, n_threads=args.threads))
    started = time.perf_counter()
    try:
        results = run(engine, args.modes.split(","), args.max_tokens, args.verbose)
    finally:
        engine.close()
    for mode, r in results.items():
        line = (f"{mode:9s} valid {r['valid_calls']:.0%}  right tool {r['right_tool']:.0%}  right arguments "
                f"{r['right_arguments']:.0%}  malformed {r['malformed_calls']}")
        if "false_calls" in r:
            line += f"  false calls on the 10: {r['false_calls']:.0%}"
        print(line + f"  ({r['tokens']} tokens, {r['tokens_per_second']} tokens/s)")
    off, lazy = results.get("off"), results.get("lazy")
    ratio = round(lazy["tokens_per_second"] / off["tokens_per_second"], 3) if off and lazy and off["tokens_per_second"] else None
    print(json.dumps({"bench": "tools_smollm2", "ratio": ratio,
                      "anchor": "tokens/s with the lazy grammar / without it, same 30 prompts interleaved",
                      "prompts": {"need_a_tool": len(NEED), "need_none": len(NONE)}, "max_tokens": args.max_tokens,
                      "seconds": round(time.perf_counter() - started, 1), **results}))


if __name__ == "__main__":
    main()

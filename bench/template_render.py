"""Chat-template render time: the bounded sandbox (assistant/engine/sandbox.py) against the plain
Jinja ``ImmutableSandboxedEnvironment`` the engine used before, on the bundled SmolLM2's own template
(ChatML) and on a larger Llama-3-style template with loops, slicing and filters.

Each case renders the same 20-turn conversation, interleaving the two environments in rounds; the
ratio is the median bounded time over the median plain time. Ends with one JSON line.

    .venv/bin/python -m bench.template_render [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import datetime
from typing import Any

LLAMA3_STYLE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] | trim %}"
    "{% set loop_messages = messages[1:] %}{% else %}{% set system = '' %}{% set loop_messages = messages %}{% endif %}"
    "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
    "Today Date: {{ strftime_now('%d %b %Y') }}\n\n{{ system }}<|eot_id|>"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def conversation(turns: int = 20) -> list[Any]:
    from assistant.engine.base import Message

    out = [Message("system", "You are a helpful assistant.")]
    for i in range(turns):
        out.append(Message("user", f"Question {i}: how do I reverse a list in Python, and why? " * 3))
        out.append(Message("assistant", f"Answer {i}: use reversed(xs) or xs[::-1]; the slice makes a copy. " * 6))
    out.append(Message("user", "Thanks, one more thing?"))
    return out


def plain_render(source: str) -> Any:
    """The engine's render before the bounds: Jinja's immutable sandbox, render() to one string."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = lambda m: None
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    template = env.from_string(source)

    def render(messages: list[Any]) -> str:
        return template.render(messages=[m.as_dict() for m in messages], add_generation_prompt=True,
                               bos_token="<s>", eos_token="</s>")

    return render


def bounded_render(source: str) -> Any:
    from assistant.engine.template import ChatTemplate

    template = ChatTemplate(source, "gguf", "<s>", "</s>", context_tokens=8192)
    return lambda messages: template.render(messages)


def timed(fn: Any, messages: list[Any], reps: int) -> float:
    start = time.perf_counter()
    for _ in range(reps):
        fn(messages)
    return (time.perf_counter() - start) / reps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    from models.bundled import smollm2_path
    from models.gguf_file import read_gguf

    smol = read_gguf(smollm2_path(), vocab=False).chat_template or ""
    messages = conversation()
    cases: dict[str, Any] = {}
    for name, source in (("smollm2_chatml", smol), ("llama3_style", LLAMA3_STYLE)):
        plain, bounded = plain_render(source), bounded_render(source)
        assert plain(messages) == bounded(messages), f"{name}: the bounded render differs"
        for fn in (plain, bounded):  # warm up
            timed(fn, messages, args.reps)
        p_times, b_times = [], []
        for r in range(args.rounds):
            pair = [(plain, p_times), (bounded, b_times)]
            for fn, sink in pair if r % 2 == 0 else pair[::-1]:
                sink.append(timed(fn, messages, args.reps))
        p, b = statistics.median(p_times), statistics.median(b_times)
        cases[name] = {"plain_us": round(p * 1e6, 1), "bounded_us": round(b * 1e6, 1),
                       "overhead_us": round((b - p) * 1e6, 1), "ratio": round(b / p, 4)}
        print(f"{name}: plain {p * 1e6:.1f} us, bounded {b * 1e6:.1f} us a render of {len(messages)} messages "
              f"(overhead {(b - p) * 1e6:+.1f} us, ratio {b / p:.3f}; target < 1.05 or < 1 ms)")
    worst = max(c["ratio"] for c in cases.values())
    print(json.dumps({
        "bench": "template_render", "ratio": worst,
        "anchor": "the plain ImmutableSandboxedEnvironment render (the engine's before the bounds), same template and messages",
        "cases": cases, "messages": len(messages), "rounds": args.rounds, "reps": args.reps, "cpu_count": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()

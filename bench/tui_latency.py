"""How the chat app feels, headless, on the real default model, with a ~1,000-token reply
(``ignore_eos``):

- key press to paint while the reply streams (a second reply): keys are typed into the input every
  ~50 ms; the latency is from posting the key to the first screen update that shows it (p50/p95;
  target p95 < 100 ms);
- first paint after start: from before the app's modules are imported to its first screen update
  (target < 0.5 s; the model loads after it, in a worker);
- tokens/s rendered by the app (first to last paint of a reply, nobody typing) versus the engine
  alone (the same loaded model, prompt and params, no app) in the same run (target >= 0.95): app
  runs alternate with engine-alone runs, each app run is compared with the mean of the two beside
  it, and ``ratio`` is the median of those. The paints per second of the app run are printed too:
  the app spaces its paints by their measured cost (assistant/tui/reply.py), so this is what the
  person sees on this machine. The tokens/s of a reply during which keys are typed is printed too.

Headless Textual skips writing to a terminal; each screen update here is still turned into terminal
output (``render_segments``), so paints cost what they cost on a real terminal.
Last line: {"bench": "tui_latency", "ratio": app tokens/s / engine tokens/s, ...}.
"""

from __future__ import annotations

import time

START = time.perf_counter()  # before textual and the app are imported

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ASSISTANT_HOME", tempfile.mkdtemp(prefix="tui-bench-"))

PROMPT = "Write a long story about a lighthouse keeper and the storms of one winter."


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Probe:
    """Wraps ``App._display``: renders each update to terminal output and times it."""

    def __init__(self, app: Any) -> None:
        from textual._compositor import CompositorUpdate

        self.app = app
        self.first_paint: float | None = None
        self.key_sent: tuple[float, int] | None = None  # (time, input length before the key)
        self.latencies: list[float] = []
        self.reply_first_paint: float | None = None
        self.reply_last_paint: float | None = None
        self.reply_paints = 0
        self.watch_reply = False
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            if renderable is not None:
                if isinstance(renderable, CompositorUpdate):
                    renderable.render_segments(app.console)
                self.on_paint(time.perf_counter())
            original(screen, renderable)

        app._display = display

    def on_paint(self, now: float) -> None:
        if self.first_paint is None:
            self.first_paint = now
        if self.key_sent is not None:
            sent, length = self.key_sent
            if len(self.app.query_one("#prompt").text) > length:
                self.latencies.append(now - sent)
                self.key_sent = None
        if self.watch_reply:
            views = self.app.query_one("#log").messages()
            if views and views[-1].role == "assistant" and views[-1].content and self.reply_first_paint is None:
                self.reply_first_paint = now
            if self.reply_first_paint is not None and self.reply_last_paint is None:
                self.reply_paints += 1
                if self.app.job is None:  # the reply is done and handled: this paint shows all of it
                    self.reply_last_paint = now


def engine_alone(engine: Any, params: Any) -> dict[str, float]:
    """The engine with no app, in a thread of its own as the app's worker runs it."""
    import threading

    from assistant.engine.base import Message, collect

    out: dict[str, float] = {}

    def run() -> None:
        _, last = collect(engine.stream([Message("user", PROMPT)], params))
        assert last.stats is not None
        out.update(tokens=last.stats.completion_tokens, tokens_per_second=last.stats.tokens_per_second)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return out


async def run_app(engine: Any, params: Any, history: Any, *, typing: bool) -> dict[str, Any]:
    from textual import events

    from assistant.tui.app import ChatApp
    from assistant.tui.widgets.prompt import PromptInput

    app = ChatApp(history=history, engine_factory=lambda name: engine, model=engine.info.name, params=params, new=True)
    probe = Probe(app)
    async with app.run_test(size=(100, 30)) as pilot:
        while app.host.inner is None:
            await asyncio.sleep(0.01)
        prompt = app.query_one(PromptInput)
        prompt.load_text(PROMPT)
        probe.watch_reply = True
        jobs: list[Any] = []

        async def catch_job() -> None:  # pilot.press waits for idle: a short reply may be over by then
            while app.job is None:
                await asyncio.sleep(0.001)
            jobs.append(app.job)

        catcher = asyncio.create_task(catch_job())
        await pilot.press("enter")
        await catcher
        job = jobs[0]
        typed = 0
        ui_cpu, wall = time.thread_time(), time.perf_counter()  # this thread runs the app's event loop
        while app.job is not None:
            await asyncio.sleep(0.05)
            if not typing or app.job is None or probe.key_sent is not None:
                continue
            if len(prompt.text) > 200:
                prompt.clear()
                await asyncio.sleep(0.05)
            probe.key_sent = (time.perf_counter(), len(prompt.text))
            app.post_message(events.Key("x", "x"))
            typed += 1
        ui_share = (time.thread_time() - ui_cpu) / (time.perf_counter() - wall)
        await pilot.pause(0.2)
        final = job.final
        assert final is not None and final.stats is not None
        n = final.stats.completion_tokens
        assert probe.reply_first_paint is not None and probe.reply_last_paint is not None
        span = probe.reply_last_paint - probe.reply_first_paint
        rendered = (n - 1) / span
        return {"tokens": n, "typed": typed, "app_tokens_per_second": rendered,
                "engine_in_app_tokens_per_second": final.stats.tokens_per_second,
                "latencies_ms": [x * 1000 for x in probe.latencies], "ui_cpu_share": ui_share,
                "paint_interval_s": job.pacer.interval, "screen_updates_per_second": probe.reply_paints / span}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--tokens", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--runs", type=int, default=3, help="app runs, each between two engine-alone runs")
    args = parser.parse_args()

    from assistant.engine.base import GenerationParams, LoadOptions
    from assistant.history.store import History
    from assistant.session.start import quiet_native_logs

    quiet_native_logs(False)
    # first paint: a fresh app (its modules imported now, as `assistant chat` does) with nothing loaded
    from assistant.tui.app import ChatApp

    history = History(Path(os.environ["ASSISTANT_HOME"]) / "bench-history.sqlite3")

    def no_engine(name: str | None) -> Any:
        raise AssertionError("the first-paint app loads no model")

    async def first_paint() -> float:
        app = ChatApp(history=history, engine_factory=no_engine, model="-", params=GenerationParams(),
                      load_model=False)
        probe = Probe(app)
        async with app.run_test(size=(100, 30)) as pilot:
            while probe.first_paint is None:
                await pilot.pause(0.01)
        assert probe.first_paint is not None
        return probe.first_paint - START

    first = asyncio.run(first_paint())
    print(f"first paint after start: {first:.3f} s (target < 0.5 s)", flush=True)

    from assistant.engine.llama import LlamaEngine

    engine = LlamaEngine()
    engine.load(None, LoadOptions(n_ctx=2048, n_threads=args.threads))
    params = GenerationParams(temperature=0.8, seed=1, max_tokens=args.tokens, ignore_eos=True)
    # engine alone, app, engine alone, app, ...: each app run against the mean of the runs beside it,
    # the median of those ratios (the machine's noise hits neighbouring runs alike)
    alone_runs = [engine_alone(engine, params)]
    print(f"engine alone: {alone_runs[0]['tokens_per_second']:.1f} tokens/s", flush=True)
    app_runs: list[dict[str, Any]] = []
    ratios: list[float] = []
    for _ in range(args.runs):
        app_result = asyncio.run(run_app(engine, params, history, typing=False))
        app_runs.append(app_result)
        alone_runs.append(engine_alone(engine, params))
        ratios.append(app_result["app_tokens_per_second"]
                      / statistics.mean(r["tokens_per_second"] for r in alone_runs[-2:]))
        print(f"app: {app_result['app_tokens_per_second']:.1f} tokens/s rendered, the UI thread busy "
              f"{app_result['ui_cpu_share']:.1%} of the time, {app_result['screen_updates_per_second']:.1f} screen "
              f"updates/s, a paint every {app_result['paint_interval_s']:.2f} s at the end; engine alone: {alone_runs[-1]['tokens_per_second']:.1f} tokens/s; ratio {ratios[-1]:.3f}",
              flush=True)
    ratio = statistics.median(ratios)
    app_result = app_runs[ratios.index(sorted(ratios)[(len(ratios) - 1) // 2])]
    typed = asyncio.run(run_app(engine, params, history, typing=True))
    print(f"app while typing: {typed['app_tokens_per_second']:.1f} tokens/s rendered", flush=True)
    engine_tps = statistics.mean(r["tokens_per_second"] for r in alone_runs)
    latencies = typed["latencies_ms"]
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    assert engine.info is not None
    runs = ", ".join(f"{r['tokens_per_second']:.1f}" for r in alone_runs)
    print(f"model: {engine.info.name} ({engine.info.backend}), reply: {app_result['tokens']} tokens (ignore_eos)")
    print(f"key press to paint while streaming: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(latencies)} keys "
          "(target p95 < 100 ms)")
    print(f"tokens/s while a key is typed every 50 ms: app rendered {typed['app_tokens_per_second']:.1f}")
    print(f"tokens/s: app rendered {app_result['app_tokens_per_second']:.1f}, engine inside the app "
          f"{app_result['engine_in_app_tokens_per_second']:.1f}, engine alone {engine_tps:.1f} "
          f"(runs {runs}); ratio {ratio:.3f} (target >= 0.95)")
    engine.close()
    history.close()
    print(json.dumps({
        "bench": "tui_latency", "ratio": round(ratio, 4), "ratios": [round(r, 4) for r in ratios],
        "anchor": "tokens/s of the engine alone (same model, prompt, params; the runs before and after each app run)",
        "screen_updates_per_second": round(app_result["screen_updates_per_second"], 2),
        "paint_interval_s": round(app_result["paint_interval_s"], 3),
        "app_tokens_per_second": round(app_result["app_tokens_per_second"], 2),
        "app_tokens_per_second_while_typing": round(typed["app_tokens_per_second"], 2),
        "engine_tokens_per_second": round(engine_tps, 2), "ui_cpu_share": round(app_result["ui_cpu_share"], 3),
        "key_to_paint_p50_ms": round(p50, 2), "key_to_paint_p95_ms": round(p95, 2), "keys": len(latencies),
        "first_paint_s": round(first, 4), "reply_tokens": app_result["tokens"],
        "model": engine_name(alone_runs), "cpu_count": os.cpu_count(),
    }))


def engine_name(_: Any) -> str:
    from models.resolve import default_model_name

    return default_model_name()


if __name__ == "__main__":
    main()

"""Soak (slow): the real `assistant serve` on the real model, 8 concurrent streaming clients x 10 requests
(OpenAI and Ollama streams), a third of them leaving mid-stream, malformed requests mixed in. No 5xx,
every finished stream well-formed, the server still answers after, its memory flat within 10%."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import httpx
import psutil
import pytest

from tests.assistant.serve.conftest import MODEL

CLIENTS, REQUESTS = 8, 10
MALFORMED: list[tuple[str, Any]] = [
    ("content", b"{not json"),
    ("json", {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}),
    ("json", {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "n": 3}),
    ("json", {"model": MODEL, "messages": []}),
    ("json", {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}),
    ("content", b'{"model": "' + MODEL.encode() + b'", "messages": [{"role": "user", "content": "' + b"z" * (9 << 20) + b'"}]}'),
]


def check_openai_stream(lines: list[str]) -> int:
    data = [line[6:] for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]", data[-3:]
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finals) == 1 and finals[0]["choices"][0]["finish_reason"] in ("stop", "length")
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    return int(chunks[-1]["usage"]["completion_tokens"])


def check_ollama_stream(lines: list[str]) -> int:
    events = [json.loads(line) for line in lines if line.strip()]
    assert all(not e["done"] for e in events[:-1]) and events[-1]["done"] is True
    assert events[-1]["eval_count"] > 0 and events[-1]["done_reason"] in ("stop", "length")
    return int(events[-1]["eval_count"])


@pytest.mark.slow
def test_soak() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", "0", "--threads", "1", "--ctx-size",
                             "2048", "--quiet"], stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert proc.stderr is not None
        m = re.search(r"at (http://\S+) ", proc.stderr.readline())
        assert m, "no start line"
        url = m.group(1)
        server = psutil.Process(proc.pid)
        statuses: Counter[int] = Counter()
        outcomes: Counter[str] = Counter()
        tokens = [0]
        lock = threading.Lock()

        def stream(c: httpx.Client, i: int, k: int, leave: bool) -> None:
            ollama = k % 2 == 1
            prompt = f"Client {i}, request {k}: tell me something about the number {i * REQUESTS + k}."
            body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": True}
            if ollama:
                path, body["options"] = "/api/chat", {"num_predict": 32, "temperature": 0.7}
            else:
                path, body["max_tokens"], body["stream_options"] = "/v1/chat/completions", 32, {"include_usage": True}
            with c.stream("POST", url + path, json=body) as r:
                with lock:
                    statuses[r.status_code] += 1
                assert r.status_code == 200, r.read()
                lines: list[str] = []
                for line in r.iter_lines():
                    lines.append(line)
                    if leave and len(lines) >= 6:
                        with lock:
                            outcomes["left mid-stream"] += 1
                        return
            n = check_ollama_stream(lines) if ollama else check_openai_stream(lines)
            with lock:
                outcomes["completed"] += 1
                tokens[0] += n

        def malformed(c: httpx.Client, k: int) -> None:
            kind, payload = MALFORMED[k % len(MALFORMED)]
            if kind == "json":
                r = c.post(f"{url}/v1/chat/completions", json=payload)
            else:
                r = c.post(f"{url}/v1/chat/completions", content=payload, headers={"content-type": "application/json"})
            with lock:
                statuses[r.status_code] += 1
                outcomes["malformed"] += 1
            assert 400 <= r.status_code < 500 and "message" in r.json()["error"]

        errors: list[BaseException] = []

        def client(i: int) -> None:
            try:
                with httpx.Client(timeout=300) as c:
                    for k in range(REQUESTS):
                        stream(c, i, k, leave=(i * REQUESTS + k) % 3 == 0)
                        if k % 3 == 1:
                            malformed(c, i + k)
            except BaseException as exc:  # reported below, with the others
                errors.append(exc)

        with httpx.Client(timeout=300) as warm:  # warm-up: the model loads, caches fill
            for k in range(3):
                stream(warm, 99, k, leave=False)
        outcomes.clear()
        statuses.clear()
        tokens[0] = 0
        rss_before = server.memory_info().rss
        start = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(1800)
        wall = time.monotonic() - start
        assert not errors, errors[:3]
        health = httpx.get(f"{url}/health", timeout=30).json()
        after = httpx.post(f"{url}/v1/chat/completions", timeout=120, json={
            "model": MODEL, "messages": [{"role": "user", "content": "Still there?"}], "max_tokens": 8}).json()
        rss_after = server.memory_info().rss
        print(f"\nsoak: {dict(outcomes)} statuses {dict(statuses)} in {wall:.0f}s, {tokens[0]} streamed tokens "
              f"({tokens[0] / wall:.1f} tok/s overall), server RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB "
              f"({(rss_after / rss_before - 1) * 100:+.1f}%)")
        assert not any(s >= 500 for s in statuses)
        assert outcomes["completed"] + outcomes["left mid-stream"] == CLIENTS * REQUESTS
        assert outcomes["left mid-stream"] >= CLIENTS * REQUESTS // 3 and outcomes["malformed"] == CLIENTS * 3
        assert health["status"] == "ok" and health["queued"] == 0
        assert after["choices"][0]["message"]["content"]
        assert abs(rss_after / rss_before - 1) <= 0.10
    finally:
        proc.terminate()
        proc.wait(60)

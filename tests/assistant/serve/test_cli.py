"""`assistant serve` itself: a fast --help, refusals in one sentence, the start line, a clean Ctrl+C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

import httpx
import openai

from tests.assistant.cli_helpers import run_cli
from tests.assistant.serve.conftest import MODEL


def test_the_command_module_imports_no_server_stack() -> None:
    code = ("import sys, assistant.cli as c; c.cli.get_command(None, 'serve'); "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'pydantic', 'llama_cpp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    r = run_cli("serve", "--help")
    assert r.returncode == 0 and "--api-key" in r.stdout and "--keep-alive" in r.stdout


def test_refusals_are_one_sentence() -> None:
    r = run_cli("serve", "--host", "0.0.0.0")
    assert r.returncode == 1 and r.stderr.startswith("Error: Refusing to listen on 0.0.0.0 without --api-key")
    r = run_cli("serve", "--model", "no-such-model")
    assert r.returncode == 1 and "Unknown model 'no-such-model'" in r.stderr
    r = run_cli("serve", "--keep-alive", "forever")
    assert r.returncode == 1 and "--keep-alive" in r.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = run_cli("serve", "--port", str(busy.getsockname()[1]))
        assert r.returncode == 1 and "Cannot listen on 127.0.0.1:" in r.stderr and len(r.stderr.splitlines()) == 1


def test_serve_on_the_real_model_then_ctrl_c() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", "0", "--threads", "1",
                             "--ctx-size", "1024"], stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        m = re.match(r"Serving (\S+) at (http://127\.0\.0\.1:\d+) ", first)
        assert m and m.group(1) == MODEL, first
        url = m.group(2)
        hints = proc.stderr.readline() + proc.stderr.readline()
        assert f"base_url={url}/v1" in hints and f"OLLAMA_HOST={url}" in hints
        c = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=120)
        r = c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "What is 2 + 2?"}],
                                      temperature=0, max_tokens=24)
        assert r.choices[0].message.content and r.usage is not None and r.usage.completion_tokens > 0
        log = proc.stderr.readline()
        assert log.startswith(f"POST /v1/chat/completions {MODEL} 200 ") and "tok/s" in log
        assert httpx.get(f"{url}/health").json()["model"] == MODEL
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        assert proc.stderr.read().strip().endswith("Stopped.")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

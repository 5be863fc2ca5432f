"""One REPL session on the real engine and the bundled SmolLM2-135M-Instruct: a question, a follow-up
that needs the first answer, /retry and /export."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from assistant.engine.llama import LlamaEngine
from assistant.history.store import History
from assistant.repl.loop import run_repl
from assistant.session.config import ChatOptions, session_config

FLAGS = ChatOptions(temperature=0.0, max_tokens=12, ctx_size=512, threads=1)


def loader(name: str | None) -> tuple[LlamaEngine, Any]:
    cfg = session_config(FLAGS.with_model(name))
    engine = LlamaEngine()
    engine.load(cfg.model, cfg.load)
    return engine, cfg


def test_real_model_session_with_follow_up_retry_and_export(tmp_path: Path) -> None:
    export = tmp_path / "session.json"
    keys = "\r".join([
        "What is the capital of France? Answer in one word.",
        "Repeat your previous answer.",
        "/set temperature 1.5",
        "/set seed 7",
        "/retry",
        f"/export {export}",
    ]) + "\r\x04"
    out = io.StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        run_repl(FLAGS, loader=loader, out=out, input=pipe, output=DummyOutput())
    text = out.getvalue()
    assert "smollm2-135m-instruct · CPU · 512-token context" in text
    assert "Paris" in text
    with History() as h:
        conv = h.list_conversations()[0]
        everything = h.messages(conv.id)
        thread = h.thread(conv.id)
    first_reply, second_reply = everything[1], everything[3]
    assert [m.role for m in thread] == ["user", "assistant", "user", "assistant"]
    assert first_reply.content.strip() and first_reply.finish_reason in ("eot", "length")
    # the follow-up's prompt held the first exchange: more tokens than it, and the KV cache reused it
    s1, s2 = first_reply.stats, second_reply.stats
    assert s2["prompt_tokens"] > s1["prompt_tokens"] + s1["completion_tokens"]
    assert s2["prompt_evaluated"] < s2["prompt_tokens"]
    # /retry answered the same follow-up again, as a sibling branch
    retried = thread[-1]
    assert retried.id != second_reply.id and retried.parent_id == second_reply.parent_id
    assert [m.id for m in everything if m.parent_id == second_reply.parent_id] == [second_reply.id, retried.id]
    data = json.loads(export.read_text())
    assert [m["content"] for m in data["messages"]] == [m.content for m in thread]
    assert data["params"]["temperature"] == 1.5 and data["params"]["seed"] == 7

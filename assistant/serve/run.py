"""Starting the server: bind the socket (so a busy port is one sentence, and port 0 picks a free one),
run uvicorn in the foreground (the command) or in a thread (tests, benches), say how to reach it,
and, with ``--history``, save each chat reply as a conversation."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from typing import Any

from assistant.serve.app import build_app
from assistant.serve.security import is_loopback
from assistant.serve.state import ServeState
from assistant.serve.worker import Finished, Job
from models.errors import AssistantError


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise AssistantError(f"Cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port "
                             "or stop the program using it.") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def check_host(host: str, api_key: str | None) -> None:
    if not is_loopback(host) and not api_key:
        raise AssistantError(f"Refusing to listen on {host} without --api-key: anyone who can reach this machine "
                             "could use it; add --api-key KEY (or ASSISTANT_API_KEY), or keep the default 127.0.0.1.")


def url_of(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
    return f"http://{shown}:{port}"


def banner(url: str, model: str, keep_alive: str, api_key: bool) -> str:
    key = "your --api-key" if api_key else "any string"
    return (f"Serving {model} at {url} (loaded on first request, unloaded after {keep_alive} idle; Ctrl+C stops)\n"
            f"  OpenAI clients: base_url={url}/v1 api_key={key}   e.g. OPENAI_BASE_URL={url}/v1\n"
            f"  Ollama clients: OLLAMA_HOST={url}   e.g. ollama run {model}  ·  ollama.Client(host=\"{url}\")")


def uvicorn_server(app: Any, quiet: bool = True) -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=3, ws="none", server_header=False)
    return uvicorn.Server(config)


def serve_forever(state: ServeState, sock: socket.socket) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    server = uvicorn_server(build_app(state))
    state.worker.start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shut down gracefully, then re-raised the Ctrl+C it caught
        pass
    finally:
        state.worker.stop()
        sock.close()
    print("Stopped.", file=sys.stderr)


class BackgroundServer:
    """The real server in a thread of this process: ``with BackgroundServer(state) as url: ...``."""

    def __init__(self, state: ServeState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.sock = bind(host, port)
        self.port = self.sock.getsockname()[1]
        self.url = url_of(host, self.port)
        self.server = uvicorn_server(build_app(state))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                       name="uvicorn")

    def __enter__(self) -> str:
        self.state.worker.start()
        self.thread.start()
        while not self.server.started and self.thread.is_alive():
            time.sleep(0.01)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.state.worker.stop()
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


class HistoryWriter:
    """``--history``: each finished chat reply becomes a conversation (the request's messages, then it)."""

    def __init__(self) -> None:
        self._history: Any = None

    def __call__(self, job: Job, text: str, finished: Finished) -> None:
        from assistant.history.store import History
        from assistant.session.chat import make_title, params_to_dict

        if self._history is None:
            self._history = History()
        h = self._history
        system = next((m.content for m in job.messages if m.role == "system"), None)
        first = next((m.content for m in job.messages if m.role == "user"), "")
        conv = h.create_conversation(model=job.model.name, system=system, params=params_to_dict(job.params),
                                     title=make_title(first))
        parent = None
        for m in job.messages:
            if m.role in ("user", "assistant"):
                parent = h.add_message(conv.id, m.role, m.content, parent_id=parent).id
        h.add_message(conv.id, "assistant", text, parent_id=parent, model=job.model.name,
                      finish_reason=finished.finish_reason, stats=finished.stats.as_dict())

from __future__ import annotations

from typing import Any

import click

from assistant.commands.options import model_options


@click.command()
@model_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --api-key.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port (0: any free one).")
@click.option("--api-key", envvar="ASSISTANT_API_KEY", default=None,
              help="Require 'Authorization: Bearer KEY' on every route but /health [env ASSISTANT_API_KEY].")
@click.option("--keep-alive", default="5m", show_default=True,
              help="Unload the model after this long idle (30s, 5m, 1h; -1 never, 0 after each request).")
@click.option("--cors-origin", "cors_origins", multiple=True,
              help="A web origin allowed to call the server from a browser, e.g. http://localhost:3000 (repeatable).")
@click.option("--allow-host", "allow_hosts", multiple=True,
              help="Another name clients use in the Host header (a proxy's), besides loopback and --host (repeatable).")
@click.option("--max-queue", type=click.IntRange(min=1), default=16, show_default=True,
              help="Requests that may wait for the engine; more get 503 with Retry-After.")
@click.option("--parallel", type=click.IntRange(min=1), default=4, show_default=True,
              help="Chat and text replies generated at once, batched into one decode (each gets --ctx-size); "
                   "1: one at a time.")
@click.option("--max-body", type=click.IntRange(min=1024), default=8 << 20, show_default=True,
              help="Largest request body, in bytes.")
@click.option("--tool-grammar", type=click.Choice(["lazy", "off"]), default="lazy", show_default=True,
              help="With tools offered and tool_choice auto: a grammar from the call format's marker on (lazy), or none.")
@click.option("--history", is_flag=True, help="Save every chat reply as a conversation in the history.")
@click.option("--quiet", is_flag=True, help="No log line per request.")
def serve(host: str, port: int, api_key: str | None, keep_alive: str, cors_origins: tuple[str, ...],
          allow_hosts: tuple[str, ...], max_queue: int, parallel: int, max_body: int, tool_grammar: str, history: bool, quiet: bool,
          **kw: Any) -> None:
    """Serve the models over HTTP: the OpenAI API under /v1 and Ollama's under /api.

    \b
    assistant serve                                   # http://127.0.0.1:8080, the default model
    assistant serve -m gemma3-270m --keep-alive 30m
    assistant serve --host 0.0.0.0 --api-key "$(openssl rand -hex 16)"
    """
    from assistant.commands.options import chat_options
    from assistant.engine.llama import LlamaEngine
    from assistant.engine.memory import check_fits
    from assistant.serve.run import HistoryWriter, banner, bind, check_host, serve_forever, url_of
    from assistant.serve.state import ServeConfig, ServeState, parse_duration
    from assistant.serve.worker import EngineWorker
    from assistant.session.start import quiet_native_logs
    from models.errors import AssistantError
    from models.gguf_file import read_gguf
    from models.resolve import resolve

    check_host(host, api_key)
    try:
        ttl = parse_duration(keep_alive)
    except ValueError as exc:
        raise AssistantError(f"--keep-alive: {exc}.") from None
    opts = chat_options(kw)
    options = opts.load_options()
    pinned = resolve(opts.model)  # an unknown model or a bad path stops here, with its sentence
    gguf = read_gguf(pinned.path, vocab=False)
    check_fits(gguf, (options.n_ctx or min(gguf.context_length, 8192)) * parallel, force=options.force)
    sock = bind(host, port)
    quiet_native_logs(options.verbose)
    on_reply = HistoryWriter() if history else None
    if parallel > 1:
        from assistant.engine.batched import BatchedEngine
        from assistant.serve.parallel import ParallelWorker

        worker: EngineWorker = ParallelWorker(BatchedEngine(parallel), options, parallel=parallel, keep_alive=ttl,
                                              max_queue=max_queue, on_reply=on_reply)
    else:
        worker = EngineWorker(LlamaEngine(), options, keep_alive=ttl, max_queue=max_queue, on_reply=on_reply)
    config = ServeConfig(host=host, port=sock.getsockname()[1], api_key=api_key, cors_origins=list(cors_origins),
                         allowed_hosts=list(allow_hosts), max_body=max_body, quiet=quiet, tool_grammar=tool_grammar)
    state = ServeState(worker, config, pinned)
    click.echo(banner(url_of(host, config.port), pinned.name, keep_alive, bool(api_key)), err=True)
    serve_forever(state, sock)

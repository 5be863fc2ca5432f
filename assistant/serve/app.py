"""The Starlette app: the request log and the routes of both APIs behind the security middleware,
over the shared state (state.py)."""

from __future__ import annotations

import sys
import time
from typing import Any

from assistant.serve.errors import ApiError, from_exception
from assistant.serve.state import ServeState
from assistant.serve.worker import Finished


class RequestLog:
    """One line per request on stderr: method, path, model, tokens, tokens/s, status, seconds."""

    def __init__(self, app: Any, quiet: bool) -> None:
        self.app = app
        self.quiet = quiet

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.quiet:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [0]
        scope.setdefault("state", {})

        async def tap(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tap)
        finally:
            state = scope.get("state", {})
            parts = [scope["method"], scope["path"], str(state.get("model", "-")), str(status[0] or "-")]
            usage = state.get("usage")
            if isinstance(usage, Finished) and usage.stats.completion_tokens:
                s = usage.stats
                parts.append(f"{s.prompt_tokens}+{s.completion_tokens} tokens {s.tokens_per_second:.1f} tok/s "
                             f"{usage.finish_reason}")
            if state.get("error"):
                parts.append(f"({state['error']})")
            parts.append(f"{time.perf_counter() - start:.2f}s")
            print(" ".join(parts), file=sys.stderr, flush=True)


def build_app(state: ServeState) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    from assistant import __version__
    from assistant.serve import ollama_routes, openai_routes
    from assistant.serve.security import SecurityMiddleware, allowed_hosts, error_response

    def endpoint(fn: Any) -> Any:
        async def run(request: Request) -> Any:
            try:
                return await fn(state, request)
            except Exception as exc:
                err = from_exception(exc)
                request.state.error = err.message
                if err.status >= 500:
                    import logging

                    logging.getLogger("assistant.serve").exception("request failed")
                return error_response(request.url.path, err)
        return run

    async def health(request: Request) -> Any:
        loaded = state.worker.loaded
        return JSONResponse({"status": "ok", "model": loaded.name if loaded else None,
                             "queued": state.worker.queued(), "busy": state.worker.busy})

    async def root(request: Request) -> Any:
        return PlainTextResponse("assistant serve is running (OpenAI API under /v1, Ollama API under /api)")

    async def version(request: Request) -> Any:
        return JSONResponse({"version": __version__})

    async def not_found(request: Request, exc: Exception) -> Any:
        code = getattr(exc, "status_code", 404)
        message = "No such route." if code == 404 else "Method not allowed on this route."
        return error_response(request.url.path, ApiError(code, f"{message} ({request.method} {request.url.path})"))

    routes = [Route("/health", health), Route("/", root, methods=["GET", "HEAD"]), Route("/api/version", version)]
    for path, fn, methods in openai_routes.ROUTES + ollama_routes.ROUTES:
        routes.append(Route(path, endpoint(fn), methods=methods))
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    cfg = state.config
    guarded = SecurityMiddleware(app, hosts=allowed_hosts(cfg.host, cfg.allowed_hosts), api_key=cfg.api_key,
                                 cors_origins=cfg.cors_origins, max_body=cfg.max_body)
    return RequestLog(guarded, cfg.quiet)

"""Reading a request body within the limit, following a job's events while watching for the client to
go away (then the job is cancelled: queued, it is skipped; running, it stops before its next token),
and a streaming response that sends lines as they come."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from assistant.engine.base import Chunk
from assistant.serve.errors import ApiError, bad_request
from assistant.serve.worker import Embedded, EngineWorker, Job


class ClientGone(Exception):
    """The client disconnected; nobody is left to answer."""


async def read_json(request: Any, limit: int) -> Any:
    """The body as JSON; 413 past ``limit`` bytes (counted as they arrive, chunked bodies too)."""
    size = 0
    parts: list[bytes] = []
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise ApiError(413, f"The request body is over this server's limit of {limit} bytes.",
                           code="request_too_large")
        parts.append(part)
    raw = b"".join(parts)
    if not raw.strip():
        raise bad_request("The request body is empty; send a JSON object.")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise bad_request("The request body is not UTF-8 text; send JSON.") from None
    except json.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON ({exc.msg} at line {exc.lineno} "
                          f"column {exc.colno}).") from None


class Watch:
    """Follows one job for one request: ``next()`` gives its events until the client disconnects."""

    def __init__(self, receive: Callable[[], Any], worker: EngineWorker, job: Job) -> None:
        self.worker = worker
        self.job = job
        self.gone = asyncio.Event()
        self.done = False
        self._task = asyncio.create_task(self._watch(receive))

    async def _watch(self, receive: Callable[[], Any]) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gone.set()
                self.worker.cancel(self.job)
                return

    async def next(self) -> Any:
        if self.gone.is_set():
            raise ClientGone
        get = asyncio.ensure_future(self.job.next())
        gone = asyncio.ensure_future(self.gone.wait())
        finished, _ = await asyncio.wait({get, gone}, return_when=asyncio.FIRST_COMPLETED)
        if get in finished:
            gone.cancel()
            return get.result()
        get.cancel()
        raise ClientGone

    def close(self) -> None:
        """The request is over: stop watching, and cancel the job if it has not ended."""
        self._task.cancel()
        if not self.done:
            self.worker.cancel(self.job)


class StreamResponse:
    """An ASGI response whose body is ``lines`` as they come (SSE or NDJSON)."""

    def __init__(self, lines: AsyncIterator[bytes], media_type: str, on_close: Callable[[], None]) -> None:
        self.lines = lines
        self.media_type = media_type
        self.on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", self.media_type.encode()), (b"cache-control", b"no-cache"),
                   (b"x-accel-buffering", b"no")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            async for line in self.lines:
                await send({"type": "http.response.body", "body": line, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (ClientGone, OSError):
            pass
        finally:
            self.on_close()


async def run(state: Any, request: Any, job: Job, stream: bool, whole: Any, lines: Any,
              media_type: str = "text/event-stream") -> Any:
    """Queue ``job``; stream its events as ``lines(watch, first)`` yields them, or collect them into
    ``whole(text, finished)``."""
    from starlette.responses import JSONResponse

    state.submit(request, job)
    watch = Watch(request.receive, state.worker, job)
    try:
        first = await watch.next()
    except ClientGone:
        watch.close()
        return JSONResponse({}, status_code=499)
    if isinstance(first, Exception):
        watch.done = True
        watch.close()
        raise first
    if stream:
        return StreamResponse(lines(watch, first), media_type, watch.close)
    try:
        parts: list[str] = []
        event = first
        while isinstance(event, Chunk):
            parts.append(event.text)
            event = await watch.next()
        watch.done = True
        if isinstance(event, Exception):
            raise event
        note_usage(request, event)
        return JSONResponse(whole("".join(parts), event))
    except ClientGone:
        return JSONResponse({}, status_code=499)
    finally:
        watch.close()


async def events(watch: Watch, first: Any) -> AsyncIterator[Any]:
    event = first
    while True:
        yield event
        if not isinstance(event, Chunk):
            watch.done = True
            return
        event = await watch.next()


async def run_embedding(state: Any, request: Any, job: Job) -> Embedded | None:
    """Queue an embeddings job and wait for its vectors; None when the client left first."""
    state.submit(request, job)
    watch = Watch(request.receive, state.worker, job)
    try:
        event = await watch.next()
        watch.done = True
    except ClientGone:
        return None
    finally:
        watch.close()
    if isinstance(event, Exception):
        raise event
    if not isinstance(event, Embedded):
        raise ApiError(500, "The engine answered an embeddings request with something else.", type="server_error")
    return event


def note_usage(request: Any, finished: Any) -> None:
    """What the request log line reports (tokens, tokens/s, finish reason)."""
    request.state.usage = finished


def sse(data: Any) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def ndjson(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

"""The one engine and its worker thread: jobs run one at a time, first come first served, from a
bounded queue. The model a job names is loaded when its turn comes (switching waits for the reply
before it, since that reply is the job running), and unloaded after ``keep_alive`` seconds idle.

Events go back to the request's event loop through an asyncio queue: text ``Chunk``s, then a
``Finished`` (or an ``Embedded``), or the exception that ended the job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from assistant.engine.base import (
    Chunk,
    ContextTooLong,
    GenerationParams,
    LoadOptions,
    Message,
    ModelInfo,
    ServingEngine,
    Stats,
)
from assistant.serve.errors import queue_full
from models.resolve import ResolvedModel

log = logging.getLogger("assistant.serve")
Loader = Callable[[ServingEngine, ResolvedModel, LoadOptions], ModelInfo]


def default_loader(engine: ServingEngine, model: ResolvedModel, options: LoadOptions) -> ModelInfo:
    return engine.load(model, options)  # type: ignore[arg-type]  # LlamaEngine takes a ResolvedModel too


@dataclass
class Finished:
    finish_reason: str
    stats: Stats
    load_seconds: float
    queued_seconds: float
    total_seconds: float


@dataclass
class Embedded:
    vectors: list[list[float]]
    tokens: int
    load_seconds: float


@dataclass(eq=False)
class Job:
    kind: str  # "chat", "text", "embed" or "load"
    model: ResolvedModel
    messages: list[Message] = field(default_factory=list)
    prompt: str = ""
    texts: list[str] = field(default_factory=list)
    params: GenerationParams = field(default_factory=GenerationParams)
    keep_alive: float | None = None  # seconds; None: the server's; < 0: forever; 0: unload when done
    unload: bool = False  # a "load" job with keep_alive 0: Ollama's way to unload a model
    # Called on the worker thread once the model is loaded, before the reply (tools: the model's call
    # format and the grammar for it); may change ``params``; what it raises goes back to the request.
    prepare: Callable[[ServingEngine, GenerationParams], None] | None = None

    def __post_init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self.cancelled = threading.Event()
        self.submitted = time.monotonic()

    def emit(self, event: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone (server shutting down)
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)

    async def next(self) -> Any:
        return await self.events.get()


class EngineWorker:
    def __init__(self, engine: ServingEngine, options: LoadOptions, *, keep_alive: float = 300.0, max_queue: int = 16,
                 loader: Loader = default_loader, on_reply: Callable[[Job, str, Finished], None] | None = None) -> None:
        self.engine = engine
        self.options = options
        self.keep_alive = keep_alive
        self.max_queue = max_queue
        self.loader = loader
        self.on_reply = on_reply
        self.loaded: ResolvedModel | None = None
        self._jobs: deque[Job] = deque()
        self._cond = threading.Condition()
        self._current: Job | None = None
        self._expires: float | None = None  # when the loaded model unloads if nothing comes
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="engine-worker", daemon=True)

    # -- the request side ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            for job in self._jobs:
                job.cancelled.set()
            if self._current is not None:
                self._current.cancelled.set()
                self.engine.cancel()
            self._cond.notify_all()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._unload()

    def submit(self, job: Job) -> None:
        with self._cond:
            waiting = sum(1 for j in self._jobs if not j.cancelled.is_set())
            if waiting >= self.max_queue or self._stopping:
                raise queue_full(retry_after=max(1, waiting))
            self._jobs.append(job)
            self._cond.notify_all()

    def cancel(self, job: Job) -> None:
        """The client went away: a queued job is skipped, a running one stops before its next token."""
        with self._cond:
            job.cancelled.set()
            if self._current is job:
                self.engine.cancel()
            self._cond.notify_all()

    def queued(self) -> int:
        with self._cond:
            return sum(1 for j in self._jobs if not j.cancelled.is_set())

    def unload_at(self) -> float | None:
        """When the loaded model unloads if nothing comes (wall clock), or None: never."""
        with self._cond:
            if self._expires is not None and self._current is None:
                return time.time() + max(0.0, self._expires - time.monotonic())
        return time.time() + self.keep_alive if self.keep_alive >= 0 else None

    @property
    def busy(self) -> bool:
        return self._current is not None

    # -- the worker thread ----------------------------------------------------------------------
    def _next_job(self) -> Job | None:
        with self._cond:
            while not self._stopping:
                while self._jobs and self._jobs[0].cancelled.is_set():
                    self._jobs.popleft()
                if self._jobs:
                    job = self._jobs.popleft()
                    self._current = job
                    return job
                timeout = None if self._expires is None else self._expires - time.monotonic()
                if timeout is not None and timeout <= 0:
                    self._expires = None
                    self._unload()
                    continue
                self._cond.wait(timeout)
            return None

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                self._execute(job)
            except Exception as exc:  # every failure goes back to its request; the worker goes on
                job.emit(exc)
            finally:
                with self._cond:
                    self._current = None
                    self._idle_after(job)

    def _idle_after(self, job: Job) -> None:
        """Nothing runs since ``job`` ended (the lock is held): unload now, or when its keep-alive runs out."""
        keep = self.keep_alive if job.keep_alive is None else job.keep_alive
        if keep == 0 and self.loaded is not None:
            self._unload()
        self._expires = None if keep < 0 or self.loaded is None else time.monotonic() + keep

    def _unload(self) -> None:
        if self.loaded is not None:
            self.engine.close()
            self.loaded = None

    def _is_loaded(self, model: ResolvedModel) -> bool:
        same = self.loaded is not None and self.loaded.path == model.path and self.loaded.adapter == model.adapter
        return same and self.engine.info is not None  # an adapter model shares its base's file

    def _ensure_model(self, model: ResolvedModel) -> float:
        """Load ``model`` unless it is the one loaded; returns the seconds loading took."""
        if self._is_loaded(model):
            return 0.0
        start = time.perf_counter()
        self._unload()
        self.loader(self.engine, model, self.options)
        self.loaded = model
        return time.perf_counter() - start

    def _execute(self, job: Job) -> None:
        started = time.monotonic()
        if job.unload:
            self._unload()
            job.emit(Finished("unload", Stats(), 0.0, started - job.submitted, 0.0))
            return
        load_seconds = self._ensure_model(job.model)
        if job.kind == "load":
            job.emit(Finished("load", Stats(), load_seconds, started - job.submitted, load_seconds))
            return
        if job.kind == "embed":
            vectors, tokens = self.engine.embed(job.texts)
            job.emit(Embedded(vectors, tokens, load_seconds))
            return
        self._reply(job, started, load_seconds)

    def _reply(self, job: Job, started: float, load_seconds: float) -> None:
        """A chat or text job on the loaded model: its chunks, then its Finished, then the history hook."""
        if job.prepare is not None:
            job.prepare(self.engine, job.params)
        self._check_length(job)
        parts: list[str] = []
        for chunk in self._stream(job):
            if job.cancelled.is_set():
                self._stop_reply(job)  # also covers a cancel that came before the stream began
            if chunk.finish_reason is not None:
                finished = Finished(chunk.finish_reason, chunk.stats or Stats(), load_seconds,
                                    started - job.submitted, time.monotonic() - job.submitted)
                job.emit(finished)
                if self.on_reply is not None and job.kind == "chat":
                    self._replied(job, "".join(parts), finished)
                return
            parts.append(chunk.text)
            job.emit(chunk)

    def _stop_reply(self, job: Job) -> None:
        self.engine.cancel()

    def _replied(self, job: Job, text: str, finished: Finished) -> None:
        assert self.on_reply is not None
        try:
            self.on_reply(job, text, finished)
        except Exception as exc:  # the history is a side matter: the reply was sent
            log.warning("could not save the reply to the history: %s", exc)

    def _stream(self, job: Job) -> Iterator[Chunk]:
        if job.kind == "chat":
            return iter(self.engine.stream(job.messages, job.params))
        return iter(self.engine.complete(job.prompt, job.params))

    def _check_length(self, job: Job) -> None:
        info = self.engine.info
        if info is None:
            return
        if job.kind == "chat":
            n = self.engine.count_tokens(job.messages)
        else:
            n = self.engine.count_text(job.prompt)
        if n >= info.context_length:
            raise ContextTooLong(
                f"The prompt is {n} tokens, more than the model's context of {info.context_length}; "
                "shorten it or start the server with a larger --ctx-size."
            )

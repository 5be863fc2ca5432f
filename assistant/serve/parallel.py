"""``serve --parallel N`` (N > 1): the worker for an engine that batches requests (BatchedEngine).

Up to ``parallel`` chat and text jobs run at once, each read on its own thread from the stream the
engine returned for it and emitting its chunks to its request as EngineWorker does; the jobs beyond
them wait in the same bounded FIFO queue (its 503 stays). A job that needs the engine to itself
(another model, an embedding, a load or an unload) waits at the head of the queue until no job
runs, then runs alone on the worker's thread as before (drain, then switch); keep-alive counts from
the moment the last running job ends. A client's disconnect cancels its own stream only
(``RequestStream.cancel()``). The history hook runs on one thread of its own, in the order replies end.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from assistant.engine.base import Chunk, LoadOptions, ServingEngine
from assistant.serve.worker import EngineWorker, Finished, Job

CONCURRENT = ("chat", "text")


class ParallelWorker(EngineWorker):
    def __init__(self, engine: ServingEngine, options: LoadOptions, *, parallel: int = 4, **kw: Any) -> None:
        super().__init__(engine, options, **kw)
        self.parallel = max(1, parallel)
        self._running: dict[Job, Iterator[Chunk] | None] = {}  # each running job and, once it began, its stream
        self._threads: list[threading.Thread] = []
        self._streaming: set[Job] = set()  # running jobs whose stream the engine has begun
        self.peak = 0  # the most jobs seen streaming at once
        self._history = ThreadPoolExecutor(max_workers=1, thread_name_prefix="serve-history")

    # -- the request side ---------------------------------------------------------------------
    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            for job in self._jobs:
                job.cancelled.set()
            for job in self._running:
                self._cancel_running(job)
            if self._current is not None:
                self._current.cancelled.set()
                self.engine.cancel()
            self._cond.notify_all()
        self._thread.join(timeout)
        end = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, end - time.monotonic()))
        self._history.shutdown(wait=True)
        if not self._thread.is_alive() and not self.running():
            self._unload()

    def cancel(self, job: Job) -> None:
        """The client went away: a queued job is skipped, a running one's stream alone stops."""
        with self._cond:
            job.cancelled.set()
            if job in self._running:
                self._cancel_running(job)
            elif self._current is job:
                self.engine.cancel()
            self._cond.notify_all()

    def running(self) -> int:
        with self._cond:
            return len(self._running) + (self._current is not None)

    def unload_at(self) -> float | None:
        if self.running():
            return time.time() + self.keep_alive if self.keep_alive >= 0 else None
        return super().unload_at()

    @property
    def busy(self) -> bool:
        return self._current is not None or bool(self._running)

    # -- the worker thread ----------------------------------------------------------------------
    def _joins(self, job: Job) -> bool:
        """Whether ``job`` may run beside the running ones: a chat or text job on the loaded model."""
        return job.kind in CONCURRENT and not job.unload and self._is_loaded(job.model)

    def _next_job(self) -> Job | None:
        with self._cond:
            while not self._stopping:
                while self._jobs and self._jobs[0].cancelled.is_set():
                    self._jobs.popleft()
                timeout: float | None = None
                if self._jobs:
                    head = self._jobs[0]
                    if not self._running or (len(self._running) < self.parallel and self._joins(head)):
                        job = self._jobs.popleft()
                        self._expires = None
                        if job.kind in CONCURRENT and not job.unload:
                            self._running[job] = None
                        else:
                            self._current = job
                        return job
                elif not self._running:
                    timeout = None if self._expires is None else self._expires - time.monotonic()
                    if timeout is not None and timeout <= 0:
                        self._expires = None
                        self._unload()
                        continue
                self._cond.wait(timeout)  # a job ends, a job comes, or the keep-alive runs out
            return None

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            if job in self._running:
                self._start(job)
                continue
            try:
                self._execute(job)
            except Exception as exc:  # every failure goes back to its request; the worker goes on
                job.emit(exc)
            finally:
                with self._cond:
                    self._current = None
                    self._idle_after(job)
                    self._cond.notify_all()

    def _start(self, job: Job) -> None:
        """Load the job's model if it is not (nothing else runs then), and read its reply on a thread."""
        started = time.monotonic()
        try:
            load_seconds = self._ensure_model(job.model)
        except Exception as exc:
            job.emit(exc)
            self._ended(job)
            return
        thread = threading.Thread(target=self._serve, args=(job, started, load_seconds), daemon=True,
                                  name="engine-reply")
        with self._cond:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _serve(self, job: Job, started: float, load_seconds: float) -> None:
        try:
            self._reply(job, started, load_seconds)
        except Exception as exc:
            job.emit(exc)
        finally:
            self._ended(job)

    def _ended(self, job: Job) -> None:
        with self._cond:
            self._running.pop(job, None)
            self._streaming.discard(job)
            if not self._running:
                self._idle_after(job)
            self._cond.notify_all()

    # -- the reply's own stream -------------------------------------------------------------------
    def _stream(self, job: Job) -> Iterator[Chunk]:
        stream = super()._stream(job)
        with self._cond:
            self._running[job] = stream
            self._streaming.add(job)
            self.peak = max(self.peak, len(self._streaming))
        return stream

    def _cancel_running(self, job: Job) -> None:
        job.cancelled.set()
        stream = self._running.get(job)
        if stream is not None:
            self._stop_reply(job)

    def _stop_reply(self, job: Job) -> None:
        stream = self._running.get(job)
        cancel = getattr(stream, "cancel", None)
        if callable(cancel):
            cancel()
        else:  # an engine whose streams cannot be cancelled one by one
            self.engine.cancel()

    def _replied(self, job: Job, text: str, finished: Finished) -> None:
        with contextlib.suppress(RuntimeError):  # stopping: the executor is shut down
            self._history.submit(super()._replied, job, text, finished)

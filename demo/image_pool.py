"""Image mode's real work, done off the hub by a pool of OS processes or threads.

:class:`ImageWork` turns a job into a call of :func:`demo.images.process` on
the file of that name in the input folder, and :class:`ImagePool` runs it: a
``concurrent.futures`` executor, by default of OS processes (``forkserver``,
or ``spawn`` where there is none), one per core. Pillow holds the GIL for part
of its work, so threads share less than the cores (``benchmarks/bench_images.py``
measures both). The worker that starts a job is not blocked while it runs:
when the job ends, the executor's thread queues a callback on the hub through
its thread-safe queue, and that callback sends the result to the worker as a
message. A worker that died meanwhile never reads it, and the pool is none the
worse; an OS process of the pool that dies breaks the executor, which is then
replaced.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Container
from concurrent.futures import (
    BrokenExecutor,
    CancelledError,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from functools import partial
from pathlib import Path
from typing import Any

import gevent

import greensup
from demo import images
from demo.job import Job, Outcome, WorkerCrash

__all__ = ["POOL_KINDS", "ImagePool", "ImageWork", "cores"]

#: What can do the work: a pool of OS processes, or of threads.
POOL_KINDS = ("process", "thread")


def cores() -> int:
    """Return the number of cores this OS process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ImagePool:
    """A pool of OS processes or threads for CPU-bound work, off the hub.

    Only the hub's thread submits work. Results come back as greensup
    messages (see :meth:`submit`).

    Args:
        kind: ``'process'`` or ``'thread'``.
        size: OS processes or threads; None gives one per core.

    Raises:
        ValueError: an unknown ``kind`` or a size below 1.
    """

    def __init__(self, kind: str = "process", size: int | None = None) -> None:
        if kind not in POOL_KINDS:
            raise ValueError(f"unknown pool kind {kind!r}: use 'process' or 'thread'")
        size = cores() if size is None else size
        if size < 1:
            raise ValueError(f"pool size must be at least 1, not {size}")
        self.kind = kind
        self.size = size
        self.generation = 0
        self.renewals = 0
        self._executor: Executor | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<ImagePool {self.kind} x{self.size}>"

    def open(self) -> None:
        """Start the pool's OS processes or threads, if not yet running.

        Blocks the calling OS thread until every OS process has started: run
        it through :func:`demo.images.run_off_hub`, or the first job starts
        them in the hub's thread instead (a stall of a few hundred ms).
        """
        if self._executor is None:
            self._make()

    def submit(
        self,
        pid: greensup.Pid,
        tag: tuple[Any, ...],
        fn: Callable[..., Any],
        *args: Any,
    ) -> int:
        """Run ``fn(*args)`` in the pool; send ``(*tag, future)`` to ``pid`` after.

        Never blocks once the pool is open. The message arrives whether the
        call returned or raised (``future.exception()`` tells); it is dropped
        if ``pid`` has exited. Returns the pool's generation, for
        :meth:`renew`.

        Raises:
            RuntimeError: the pool was closed.
        """
        executor = self._executor or self._make()
        try:
            future = executor.submit(fn, *args)
        except BrokenExecutor:
            self.renew(self.generation)
            future = self._make().submit(fn, *args)
        future.add_done_callback(partial(_deliver, gevent.get_hub(), pid, tag))
        return self.generation

    def renew(self, generation: int) -> None:
        """Replace the executor of ``generation`` if it is still the current one.

        Called when an OS process of the pool died (the executor is broken
        then); a second caller for the same generation does nothing. Never
        blocks; the next :meth:`submit` starts the new OS processes.
        """
        if generation != self.generation or self._executor is None:
            return
        executor, self._executor = self._executor, None
        self.generation += 1
        self.renewals += 1
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Shut the pool down: queued work is cancelled, running work finishes.

        Blocks the calling OS thread until the OS processes or threads have
        ended: run it through :func:`demo.images.run_off_hub`.
        """
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _make(self) -> Executor:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed: it takes no more work")
        if self.kind == "thread":
            executor: Executor = ThreadPoolExecutor(self.size, "image-pool")
        else:
            methods = multiprocessing.get_all_start_methods()
            method = "forkserver" if "forkserver" in methods else "spawn"
            context = multiprocessing.get_context(method)
            executor = ProcessPoolExecutor(
                self.size, mp_context=context, initializer=_ignore_interrupts
            )
            _start_all(executor, self.size)
        self._executor = executor
        return executor


def _start_all(executor: Executor, size: int) -> None:
    # Start every OS process now, with Ctrl-C blocked in this thread: they (and
    # a fork server) inherit the mask, so a Ctrl-C that comes while one starts
    # cannot kill it before _ignore_interrupts runs. Each warm-up task waits a
    # little, so that no process is idle before all have been asked for.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        for future in [executor.submit(time.sleep, 0.05) for _ in range(size)]:
            future.result()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _ignore_interrupts() -> None:
    # Runs in each OS process of the pool as it starts. Ctrl-C signals the
    # terminal's whole process group: the demo stops gracefully on it, and its
    # pool must go on with the jobs in flight rather than die with them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _deliver(
    hub: Any, pid: greensup.Pid, tag: tuple[Any, ...], future: Future[Any]
) -> None:
    # Runs in an executor thread, or in the hub's thread if the future was
    # already done: the send itself happens in the hub's thread, where the
    # receiving mailbox lives.
    hub.loop.run_callback_threadsafe(greensup.send, pid, (*tag, future))


class ImageWork:
    """The input and output folders of image mode, and the pool that does the work.

    Args:
        source_dir: the folder whose files become jobs.
        out_dir: where the results go.
        pool: what runs :func:`demo.images.process`.
    """

    def __init__(self, source_dir: Path, out_dir: Path, pool: ImagePool) -> None:
        self.source_dir = source_dir
        self.out_dir = out_dir
        self.pool = pool

    def __repr__(self) -> str:
        return f"<ImageWork {str(self.source_dir)[-40:]!r} {self.pool!r}>"

    def todo(
        self, known: Container[tuple[str, str]] = ()
    ) -> tuple[list[tuple[str, str]], int]:
        """List the work the input folder calls for; touches no file.

        Returns:
            The ``(job type, file name)`` pairs still to do, file by file, and
            how many pairs were left out because their output exists already.
            Pairs in ``known`` (jobs saved from an earlier run, or submitted
            already) are left out without being counted.
        """
        todo: list[tuple[str, str]] = []
        done = 0
        for source in images.source_files(self.source_dir):
            for job_type in images.JOB_TYPES:
                if (job_type, source.name) in known:
                    continue
                if images.output_path(self.out_dir, source, job_type).exists():
                    done += 1
                else:
                    todo.append((job_type, source.name))
        return todo, done

    def start(self, job: Job, pid: greensup.Pid) -> None:
        """Start ``job`` in the pool and have ``pid`` told when it ends.

        The message is ``('image_done', job_id, attempts, generation,
        future)``: ``attempts`` are the job's failed attempts so far, which
        tells this attempt from the next, and ``generation`` goes to
        :meth:`outcome`. Never blocks once the pool is open.
        """
        source = self.source_dir / job.file_name
        tag = ("image_done", job.id, job.attempts, self.pool.generation)
        self.pool.submit(pid, tag, images.process, job.type, source, self.out_dir)

    def outcome(
        self, job: Job, generation: int, future: Future[Any]
    ) -> tuple[Outcome, str | None]:
        """Return how the attempt whose ``future`` is done ended, and its error.

        Never blocks.

        Raises:
            WorkerCrash: the attempt hit something no retry with a backoff is
                for: the pool lost an OS process (it is replaced), or the work
                raised an unexpected error.
        """
        try:
            error = future.exception(timeout=0)
        except CancelledError:
            raise WorkerCrash(f"{job.file_name}: cancelled by the pool") from None
        if error is None:
            return "ok", None

        source = self.source_dir / job.file_name
        if isinstance(error, images.PermanentImageError):
            return "permanent", str(error)
        if isinstance(error, FileNotFoundError) and error.filename == str(source):
            return "permanent", f"{job.file_name} is not in {self.source_dir}"
        if isinstance(error, BrokenExecutor):
            self.pool.renew(generation)
            raise WorkerCrash(
                f"the image pool lost an OS process during {job.file_name}"
            ) from error
        if isinstance(error, OSError):
            return "fail", f"{type(error).__name__}: {error}"
        raise WorkerCrash(f"{type(error).__name__}: {error}") from error

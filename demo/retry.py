"""The RetryManager: backoff timers for failed attempts.

The JobQueue casts ``('schedule', job_id, attempts, delay)`` for each failed
or crashed attempt that has retries left; the RetryManager sets a
``timer.send_after`` and, when it fires, casts ``('retry_due', job_id,
attempts)`` back. The queue keeps the jobs themselves, so a restarted
RetryManager asks it for the jobs still waiting and sets their timers again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import greensup
from greensup import timer

__all__ = ["RetryManager", "RetryTimer"]


@dataclass(frozen=True)
class RetryTimer:
    """A retry countdown.

    Attributes:
        job_id: the job.
        retry: which retry this is (1 to 3).
        delay: real seconds the backoff lasts.
        due_in: real seconds left.
    """

    job_id: str
    retry: int
    delay: float
    due_in: float


@dataclass
class _Pending:
    ref: greensup.TimerRef
    attempts: int
    delay: float
    due: float


class RetryManager(greensup.GenServer):
    """Backoff timers for the JobQueue's failed attempts.

    Casts: ``('schedule', job_id, attempts, delay)``. Calls: ``'snapshot'``
    returns the countdowns (tuple of :class:`RetryTimer`, soonest first).
    """

    def init(self, queue: str) -> None:
        """Set timers for the jobs the queue has waiting; runs in the new process.

        Args:
            queue: the JobQueue's registered name.

        Raises:
            NoProc, CallTimeout: the queue is not answering.
        """
        self._queue = queue
        self._timers: dict[str, _Pending] = {}
        for job_id, attempts, left in greensup.call(queue, "retrying"):
            self._schedule(job_id, attempts, left)

    def handle_cast(self, request: Any) -> None:
        """Set a backoff timer; runs in the manager's process."""
        match request:
            case ("schedule", str() as job_id, int() as attempts, delay):
                self._schedule(job_id, attempts, float(delay))
            case _:
                raise ValueError(f"unknown retry request {request!r}")

    def handle_call(self, request: Any, caller: greensup.Caller) -> Any:
        """Answer ``'snapshot'``; runs in the manager's process."""
        if request != "snapshot":
            raise ValueError(f"unknown retry request {request!r}")
        now = time.monotonic()
        timers = (
            RetryTimer(job_id, p.attempts, p.delay, max(0.0, p.due - now))
            for job_id, p in self._timers.items()
        )
        return tuple(sorted(timers, key=lambda t: t.due_in))

    def handle_info(self, msg: Any) -> None:
        """Hand a job whose backoff is over back to the queue."""
        match msg:
            case ("due", job_id, attempts):
                pending = self._timers.get(job_id)
                if pending is None or pending.attempts != attempts:
                    return
                del self._timers[job_id]
                greensup.cast(self._queue, ("retry_due", job_id, attempts))

    def _schedule(self, job_id: str, attempts: int, delay: float) -> None:
        old = self._timers.pop(job_id, None)
        if old is not None:
            timer.cancel(old.ref)
        ref = timer.send_after(delay, self.pid, ("due", job_id, attempts))
        self._timers[job_id] = _Pending(ref, attempts, delay, time.monotonic() + delay)

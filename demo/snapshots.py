"""Snapshots of the JobQueue: frozen values the dashboard and tests read.

:meth:`demo.app.JobQueueApp.snapshot` gathers them; nothing in them refers to
the queue's live state.
"""

from __future__ import annotations

from dataclasses import dataclass

import greensup

__all__ = ["Counts", "CrashInfo", "QueueSnapshot", "RetryView", "WorkerView"]


@dataclass(frozen=True)
class Counts:
    """Where the jobs of this run are; see the summary JSON of the demo.

    After a graceful stop ``submitted + resumed == rejected + completed +
    dead_lettered + pending + in_flight + retrying`` and ``failed + crashed ==
    retried + dead_lettered``.
    """

    submitted: int = 0
    rejected: int = 0
    completed: int = 0
    failed: int = 0
    crashed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    resumed: int = 0
    pending: int = 0
    in_flight: int = 0
    retrying: int = 0


@dataclass(frozen=True)
class CrashInfo:
    """The last crash of a worker slot.

    Attributes:
        at: wall-clock time of the crash.
        job_id: the job the worker held, None if it was idle.
        file_name: that job's file name.
        reason: the exit reason, in words.
    """

    at: float
    job_id: str | None
    file_name: str
    reason: str


@dataclass(frozen=True)
class WorkerView:
    """One worker of the pool, as the dashboard shows it.

    Attributes:
        slot: the worker's number (#1, #2...); a replacement takes the free slot.
        pid: the worker process.
        job_id: the job in flight, None when idle.
        job_type: its type.
        file_name: its file name.
        attempt: its attempt number.
        elapsed: real seconds the attempt has run.
        expected: real seconds the attempt is planned to run.
        progress: ``elapsed / expected`` capped at 1.
        retiring: the worker stops after its current job.
        last_crash: the slot's last crash, if any.
    """

    slot: int
    pid: greensup.Pid
    job_id: str | None
    job_type: str
    file_name: str
    attempt: int
    elapsed: float
    expected: float
    progress: float
    retiring: bool
    last_crash: CrashInfo | None


@dataclass(frozen=True)
class RetryView:
    """A job waiting for its retry.

    Attributes:
        job_id: the job.
        job_type: its type.
        file_name: its file name.
        retry: which retry is coming (1 to 3).
        due_in: real seconds until it is due (0 once overdue).
    """

    job_id: str
    job_type: str
    file_name: str
    retry: int
    due_in: float


@dataclass(frozen=True)
class QueueSnapshot:
    """The queue at one moment.

    Attributes:
        counts: where the jobs are.
        workers: the pool, by slot.
        retries: the jobs waiting to retry, soonest first.
        last_crashes: ``(slot, CrashInfo)`` for every slot that ever crashed.
        target_workers: the size idle workers shrink back to.
        max_workers: the upper bound of the pool.
        max_depth: the backpressure bound.
        draining: intake is stopped and no new attempt starts.
        drain_deadline_in: real seconds left for in-flight jobs to finish.
    """

    counts: Counts
    workers: tuple[WorkerView, ...]
    retries: tuple[RetryView, ...]
    last_crashes: tuple[tuple[int, CrashInfo], ...]
    target_workers: int
    max_workers: int
    max_depth: int
    draining: bool
    drain_deadline_in: float | None

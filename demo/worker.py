"""The Worker: runs one job attempt at a time, as the simulation plans it.

A worker tells the JobQueue it is up, then receives ``('run', job, plan)``
casts. It waits out the attempt with a timer, so it keeps answering while
busy, and reports ``('done', pid, job_id, outcome, error)``. A planned crash
raises :class:`~demo.job.WorkerCrash` from the callback: the process really
dies, and the queue learns it from its monitor. A worker idle for
``idle_timeout`` asks the queue whether the pool can spare it, and stops
normally if so.
"""

from __future__ import annotations

import time
from typing import Any

import greensup
from demo.config import DemoConfig
from demo.job import AttemptPlan, Job, WorkerCrash
from greensup import timer

__all__ = [
    "IDLE_CHECK_AT_LEAST",
    "INLINE_BELOW",
    "AttemptPlan",
    "Worker",
    "worker_spec",
]

#: Attempts shorter than this (real seconds) finish at once: a timer would
#: cost more than the wait (a very high ``--speed``, or free jobs).
INLINE_BELOW = 0.0005
#: The shortest real idle timeout, however high the speed: below it the idle
#: checks would keep a busy worker's timer firing for nothing.
IDLE_CHECK_AT_LEAST = 0.02


class Worker(greensup.GenServer):
    """One worker of the pool; started under the WorkerSupervisor, temporary."""

    def init(self, queue: str, idle_timeout: float) -> None:
        """Announce the worker to the queue; runs in the new process.

        Args:
            queue: the JobQueue's registered name.
            idle_timeout: real seconds of idleness after which the worker asks
                the queue whether it may stop.
        """
        self._queue = queue
        self._idle_timeout = idle_timeout
        self._job: Job | None = None
        self._plan: AttemptPlan | None = None
        self._last_active = time.monotonic()
        self._idle_timer: greensup.TimerRef | None = None
        greensup.cast(queue, ("worker_up", self.pid))
        self._arm_idle(idle_timeout)

    def handle_cast(self, request: Any) -> None:
        """Start an attempt or retire; runs in the worker's process.

        Raises:
            WorkerCrash: the attempt was planned to crash and has no wait.
        """
        match request:
            case ("run", Job() as job, AttemptPlan() as plan):
                self._job, self._plan = job, plan
                if plan.duration < INLINE_BELOW:
                    self._finish()
                else:
                    timer.send_after(plan.duration, self.pid, ("finish", job.id))
            case ("retire",):
                raise greensup.Stop()
            case _:
                raise ValueError(f"unknown worker request {request!r}")

    def handle_info(self, msg: Any) -> None:
        """End an attempt when its time is up, or check for idleness.

        Raises:
            WorkerCrash: the attempt was planned to crash.
        """
        match msg:
            case ("finish", job_id) if self._job is not None and self._job.id == job_id:
                self._finish()
            case ("idle_check",):
                self._idle_timer = None
                self._check_idle()

    def _finish(self) -> None:
        job, plan = self._job, self._plan
        assert job is not None and plan is not None, "finish without a job"
        if plan.outcome == "crash":
            raise WorkerCrash(plan.error)

        self._job = self._plan = None
        self._last_active = time.monotonic()
        greensup.cast(self._queue, ("done", self.pid, job.id, plan.outcome, plan.error))
        if self._idle_timer is None:
            self._arm_idle(self._idle_timeout)

    def _check_idle(self) -> None:
        if self._job is not None:
            self._arm_idle(self._idle_timeout)
            return
        left = self._last_active + self._idle_timeout - time.monotonic()
        if left > 0:
            self._arm_idle(left)
            return

        try:
            may_stop = greensup.call(self._queue, ("may_retire", self.pid))
        except greensup.GreensupError:
            may_stop = False  # the queue is restarting; ask again later
        if may_stop:
            raise greensup.Stop()
        self._last_active = time.monotonic()
        self._arm_idle(self._idle_timeout)

    def _arm_idle(self, seconds: float) -> None:
        # One idle timer at a time, however many jobs pass: a busy worker only
        # moves _last_active forward.
        self._idle_timer = timer.send_after(seconds, self.pid, ("idle_check",))


def worker_spec(config: DemoConfig) -> greensup.ChildSpec:
    """Return the child spec of a worker for ``config``: temporary, 1 s shutdown."""
    return greensup.ChildSpec(
        id="worker",
        start=Worker.start_link,
        args=(
            config.names.queue,
            max(config.idle_timeout / config.speed, IDLE_CHECK_AT_LEAST),
        ),
        restart="temporary",
        shutdown=1.0,
    )

"""The Worker: runs one job attempt at a time, simulated or real.

A worker tells the JobQueue it is up, then receives ``('run', job, plan)``
casts. In the simulation it waits out the attempt with a timer; in image mode
it hands the job to the image pool and gets its result as a message. Either
way it keeps answering while busy, and reports ``('done', pid, job_id,
outcome, error)``. A planned crash raises :class:`~demo.job.WorkerCrash` from
the callback: the process really dies, and the queue learns it from its
monitor. In image mode a planned fault (an error or a crash) strikes when the
plan's time is up or when the real work ends, whichever comes first; work
still running in the pool then finishes for nobody, and its output, written
atomically, is found by the retry. A worker idle for ``idle_timeout`` asks the
queue whether the pool can spare it, and stops normally if so.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from typing import Any

import greensup
from demo.config import DemoConfig
from demo.image_pool import ImageWork
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

    def init(
        self, queue: str, idle_timeout: float, images: ImageWork | None = None
    ) -> None:
        """Announce the worker to the queue; runs in the new process.

        Args:
            queue: the JobQueue's registered name.
            idle_timeout: real seconds of idleness after which the worker asks
                the queue whether it may stop.
            images: image mode's folders and pool; None to simulate the work.
        """
        self._queue = queue
        self._idle_timeout = idle_timeout
        self._images = images
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
                if self._images is not None:
                    self._images.start(job, self.pid)
                    if plan.outcome != "ok":
                        self._finish_after(plan.duration)
                elif plan.duration < INLINE_BELOW:
                    self._finish()
                else:
                    self._finish_after(plan.duration)
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
            case ("finish", job_id, attempts) if self._holds(job_id, attempts):
                self._finish()
            case ("image_done", job_id, attempts, int() as generation, future) if (
                self._holds(job_id, attempts)
            ):
                self._image_done(generation, future)
            case ("idle_check",):
                self._idle_timer = None
                self._check_idle()

    def _holds(self, job_id: str, attempts: int) -> bool:
        # A fault timer, or the work, of an earlier attempt may still report
        # after that attempt ended: it must not end a later attempt of the job.
        job = self._job
        return job is not None and job.id == job_id and job.attempts == attempts

    def _finish_after(self, seconds: float) -> None:
        job = self._job
        assert job is not None, "a timer without a job"
        timer.send_after(seconds, self.pid, ("finish", job.id, job.attempts))

    def _image_done(self, generation: int, future: Future[Any]) -> None:
        job, plan = self._job, self._plan
        assert job is not None and plan is not None, "image work without a job"
        assert self._images is not None, "image work outside image mode"
        outcome, error = self._images.outcome(job, generation, future)
        if outcome == "ok" and plan.outcome != "ok":
            self._finish()  # the planned fault strikes as the work ends
        else:
            self._report(outcome, error)

    def _finish(self) -> None:
        plan = self._plan
        assert plan is not None, "finish without a job"
        if plan.outcome == "crash":
            raise WorkerCrash(plan.error)
        self._report(plan.outcome, plan.error)

    def _report(self, outcome: str, error: str | None) -> None:
        job = self._job
        assert job is not None, "report without a job"
        self._job = self._plan = None
        self._last_active = time.monotonic()
        greensup.cast(self._queue, ("done", self.pid, job.id, outcome, error))
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


def worker_spec(
    config: DemoConfig, images: ImageWork | None = None
) -> greensup.ChildSpec:
    """Return the child spec of a worker for ``config``: temporary, 1 s shutdown.

    Args:
        config: the run's settings.
        images: image mode's folders and pool; None to simulate the work.
    """
    return greensup.ChildSpec(
        id="worker",
        start=Worker.start_link,
        args=(
            config.names.queue,
            max(config.idle_timeout / config.speed, IDLE_CHECK_AT_LEAST),
            images,
        ),
        restart="temporary",
        shutdown=1.0,
    )

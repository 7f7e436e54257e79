"""The StatsCollector: throughput, latency, errors and the recent activity.

The JobQueue casts one :class:`Activity` per event (a job queued, rejected,
completed, failed, crashed, requeued or dead-lettered; a worker added or
removed; the drain). A ``timer.send_interval`` tick turns the completions of
the last few seconds into a throughput figure. A :class:`HubProbe` measures how
long the gevent hub goes without running: CPU-bound work done in the hub's
thread would freeze timers, the dashboard and supervision alike, and shows up
there. Everything is read through :meth:`StatsCollector.snapshot`, a frozen
:class:`StatsSnapshot`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import gevent

import greensup
from greensup import timer

__all__ = [
    "ERROR_KINDS",
    "PROBE_INTERVAL",
    "Activity",
    "HubProbe",
    "StatsCollector",
    "StatsSnapshot",
    "format_activity",
]

#: Activity kinds that count as errors in the statistics.
ERROR_KINDS = frozenset({"failed", "crashed"})

#: Seconds between two looks of the :class:`HubProbe` at the hub.
PROBE_INTERVAL = 0.02


class Activity(NamedTuple):
    """One thing that happened, for the activity log (cheap to make: one per event).

    Attributes:
        kind: ``queued``, ``rejected``, ``completed``, ``failed``, ``crashed``,
            ``requeued``, ``dead_lettered``, ``resumed``, ``worker_added``,
            ``worker_removed``, ``draining`` or ``drained``.
        at: wall-clock time (``time.time()``).
        mono: the same moment on the monotonic clock.
        job_id: the job's id, None for events about no job.
        job_type: the job's type.
        file_name: the job's file name.
        attempt: the attempt the event is about (1-based), 0 if none.
        elapsed: seconds the attempt ran, for completed, failed and crashed.
        detail: the rest, in words: an error, a worker, a retry schedule.
    """

    kind: str
    at: float
    mono: float
    job_id: str | None = None
    job_type: str = ""
    file_name: str = ""
    attempt: int = 0
    elapsed: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class StatsSnapshot:
    """Statistics at one moment.

    Attributes:
        throughput: completed jobs per second over the last window.
        avg_ms: mean run time of the completed attempts, in milliseconds.
        completed: completed jobs.
        errors: attempts that failed or crashed.
        rejected: submissions rejected by backpressure or a stopped intake.
        recent: the latest activity, newest last.
        max_hub_stall_ms: the longest the hub went without running, since the
            collector started, in milliseconds.
        hub_stall_ms: the longest over the last throughput window.
    """

    throughput: float
    avg_ms: float
    completed: int
    errors: int
    rejected: int
    recent: tuple[Activity, ...]
    max_hub_stall_ms: float = 0.0
    hub_stall_ms: float = 0.0


class HubProbe:
    """Measures how late a repeating hub timer fires: the hub's stalls.

    A timer due every ``interval`` seconds that fires ``interval + x`` after
    the last time found the hub busy for about ``x``: a greenlet that ran
    that long without switching, or an OS thread holding the GIL. Runs until
    :meth:`stop`, or until ``owner`` (if given) has exited.

    Attributes:
        max_stall: the longest stall so far, in seconds.
        window_stall: the longest since the last :meth:`take_window`.
        looks: how many times the probe has looked.

    Args:
        interval: seconds between looks.
        owner: the process the probe belongs to.
    """

    def __init__(
        self, interval: float = PROBE_INTERVAL, owner: greensup.Pid | None = None
    ) -> None:
        self.interval = interval
        self.max_stall = 0.0
        self.window_stall = 0.0
        self.looks = 0
        self._owner = owner
        self._last = time.perf_counter()
        self._timer = gevent.get_hub().loop.timer(interval, interval)
        self._timer.start(self._look)

    def take_window(self) -> float:
        """Return the longest stall since the last call, in seconds. Never blocks."""
        stall, self.window_stall = self.window_stall, 0.0
        return stall

    def stop(self) -> None:
        """Stop looking. Never blocks."""
        self._timer.close()

    def _look(self) -> None:
        # Hub callback: arithmetic only, it must not block or raise.
        if self._owner is not None and not self._owner.alive:
            self._timer.close()
            return
        now = time.perf_counter()
        stall = max(0.0, now - self._last - self.interval)
        self._last = now
        self.looks += 1
        if stall > self.window_stall:
            self.window_stall = stall
            self.max_stall = max(self.max_stall, stall)


class StatsCollector(greensup.GenServer):
    """Aggregates the JobQueue's activity.

    ``init`` runs in the new process. Requests: ``('event', Activity)`` (cast)
    and ``'snapshot'`` (call, returns :class:`StatsSnapshot`).
    """

    def init(
        self,
        interval: float = 1.0,
        window: float = 5.0,
        history: int = 50,
        on_activity: Callable[[Activity], None] | None = None,
    ) -> None:
        """Start the aggregation tick.

        Args:
            interval: seconds between throughput updates.
            window: seconds of completions the throughput covers.
            history: activity entries kept for :attr:`StatsSnapshot.recent`.
            on_activity: called in this process with each activity, in order
                (the headless mode prints them); an exception crashes the
                collector.
        """
        self._window = window
        self._on_activity = on_activity
        self._recent: deque[Activity] = deque(maxlen=history)
        self._samples: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])
        self._completed = 0
        self._errors = 0
        self._rejected = 0
        self._run_time = 0.0
        self._throughput = 0.0
        self._probe = HubProbe(owner=self.pid)
        self._stalls: deque[tuple[float, float]] = deque()
        timer.send_interval(interval, self.pid, "tick")

    def terminate(self, reason: object) -> None:
        """Stop the hub probe; runs in the collector's process as it stops."""
        self._probe.stop()

    def handle_cast(self, request: object) -> None:
        """Record an activity: runs in the collector's process."""
        match request:
            case ("event", Activity() as activity):
                self._record(activity)
            case _:
                raise ValueError(f"unknown stats request {request!r}")

    def handle_call(self, request: object, caller: greensup.Caller) -> object:
        """Answer ``'snapshot'``: runs in the collector's process."""
        if request == "snapshot":
            return self._snapshot()
        raise ValueError(f"unknown stats request {request!r}")

    def handle_info(self, msg: object) -> None:
        """Update the throughput on each tick."""
        if msg != "tick":
            return
        now = time.monotonic()
        self._samples.append((now, self._completed))
        while len(self._samples) > 2 and now - self._samples[0][0] > self._window:
            self._samples.popleft()

        first_time, first_count = self._samples[0]
        span = now - first_time
        self._throughput = (self._completed - first_count) / span if span else 0.0

        self._stalls.append((now, self._probe.take_window()))
        while self._stalls and now - self._stalls[0][0] > self._window:
            self._stalls.popleft()

    def _record(self, activity: Activity) -> None:
        if activity.kind == "completed":
            self._completed += 1
            self._run_time += activity.elapsed or 0.0
        elif activity.kind in ERROR_KINDS:
            self._errors += 1
        elif activity.kind == "rejected":
            self._rejected += 1

        self._recent.append(activity)
        if self._on_activity is not None:
            self._on_activity(activity)

    def _recent_stall(self) -> float:
        stalls = (stall for _, stall in self._stalls)
        return max([self._probe.window_stall, *stalls])

    def _snapshot(self) -> StatsSnapshot:
        average = self._run_time / self._completed * 1000 if self._completed else 0.0
        return StatsSnapshot(
            throughput=self._throughput,
            avg_ms=average,
            completed=self._completed,
            errors=self._errors,
            rejected=self._rejected,
            recent=tuple(self._recent),
            max_hub_stall_ms=self._probe.max_stall * 1000,
            hub_stall_ms=self._recent_stall() * 1000,
        )


def format_activity(activity: Activity) -> str:
    """Return one readable line for ``activity``: time, job, what happened."""
    clock = time.strftime("%H:%M:%S", time.localtime(activity.at))
    stamp = f"{clock}.{int(activity.at * 1000) % 1000:03d}"
    if activity.job_id is None:
        return f"{stamp}  {activity.kind:<14} {activity.detail}"

    job = f"{activity.job_id[:8]} {activity.job_type:<9} {activity.file_name}"
    text = f"{stamp}  {activity.kind:<14} {job}"
    if activity.elapsed is not None:
        text += f" in {activity.elapsed:.2f}s"
    if activity.detail:
        text += f": {activity.detail}"
    return text

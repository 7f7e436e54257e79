"""The JobQueue: pending jobs, dispatch to workers, and where every job is.

The queue is the ledger of the demo: at any moment each job it was given is
exactly one of rejected, pending, in flight, waiting to retry, completed or
dead-lettered, and its ``'counts'`` and ``'snapshot'`` calls report them all
at once. It hands jobs to idle workers with a cast, monitors every worker,
and treats a worker that dies while holding a job as a crashed attempt. A
failed or crashed attempt goes to the RetryManager for its backoff, or to the
DeadLetterStore once the job has used its retries.

It also keeps the pool: it replaces crashed workers, grows the pool while the
backlog is larger than it, lets idle workers beyond the target size go, and
never lets it shrink below one worker.

In image mode the jobs come from the input folder: the run's ledger holds an
intake of ``(job type, file name)`` pairs not submitted yet, and the queue
submits from it whenever the pending jobs are below ``max_depth``, so a large
folder is worked through without a rejection. The queue is idle only once the
intake is empty too.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import greensup
from demo.config import DemoConfig
from demo.image_pool import ImageWork
from demo.job import DONE_VERB, MAX_ATTEMPTS, MAX_RETRIES, Job, JobFactory, backoff
from demo.pool import WorkerEntry, WorkerPool
from demo.snapshots import Counts, CrashInfo, QueueSnapshot, RetryView, WorkerView
from demo.state import QueueState
from demo.stats import Activity
from demo.worker import AttemptPlan

__all__ = [
    "FLUSH_DELAY",
    "QUEUED_ONE_BY_ONE",
    "UNHEARD_KEPT",
    "Counts",
    "CrashInfo",
    "JobQueue",
    "QueueSnapshot",
    "RunLedger",
    "RetryView",
    "WorkerView",
    "describe_reason",
]

_log = logging.getLogger("demo.queue")

#: Larger batches of new jobs get one ``queued`` activity, not one per job.
QUEUED_ONE_BY_ONE = 20

#: Activities kept while the StatsCollector is not there to take them.
UNHEARD_KEPT = 1000

#: Seconds the changes of finished attempts wait before they are committed.
FLUSH_DELAY = 0.05

#: Image mode: the run time a job type is expected to take before one is done.
FIRST_GUESS = 1.0

_TOTALS = (
    "submitted",
    "rejected",
    "completed",
    "failed",
    "crashed",
    "retried",
    "dead_lettered",
    "resumed",
)


@dataclass
class _Flight:
    job: Job
    plan: AttemptPlan
    attempt: int
    started: float
    expected: float = field(default=0.0)


@dataclass
class _Retry:
    job: Job
    due: float


class RunLedger:
    """What the JobQueue keeps across its own restarts within one run.

    The Application makes one and hands it to every start of the queue, so a
    restarted queue goes on counting, and numbering new jobs, where the last
    one stopped. Only the queue's process touches it.

    Args:
        seed: seeds the job factory.
        intake: image mode: the ``(job type, file name)`` pairs to submit.

    Attributes:
        announced: the whole tree has started (see ``'announce'``); until
            then the queue neither grows the pool nor takes from the intake.
        intake: the pairs not submitted yet, in order.
        known: every pair of the run: submitted, in the intake, or resumed.
    """

    def __init__(
        self, seed: int | None = None, intake: list[tuple[str, str]] | None = None
    ) -> None:
        self.totals: dict[str, int] = dict.fromkeys(_TOTALS, 0)
        self.factory = JobFactory(seed)
        self.started = False
        self.announced = False
        self.intake: deque[tuple[str, str]] = deque(intake or ())
        self.known: set[tuple[str, str]] = set(self.intake)


def describe_reason(reason: Any) -> str:
    """Return an exit reason in words: ``'killed'``, ``'WorkerCrash: ...'``."""
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"
    return str(reason)


class JobQueue(greensup.GenServer):
    """The queue and ledger of jobs; see the module docstring.

    Calls: ``('submit', n)`` makes ``n`` new jobs and returns ``(accepted,
    rejected)``; ``('submit_jobs', jobs)`` the same for given jobs;
    ``'snapshot'``; ``'counts'``; ``('locate', job_id)``; ``'add_worker'`` and
    ``'remove_worker'`` (return whether they did it); ``('drain', timeout)``
    (returns True once nothing is in flight, False if the timeout cut it
    short); ``'retrying'`` (for the RetryManager); ``('may_retire', pid)``
    (for an idle worker); ``'announce'`` (hands the activity from before the
    StatsCollector started to it). Casts: ``('submit', n)``, ``('notify_idle', pid)``
    (sends ``('queue_idle', queue_pid)`` to ``pid`` once nothing is pending, in
    flight or waiting to retry), and the workers' and RetryManager's reports.
    """

    def init(
        self,
        config: DemoConfig,
        state: QueueState,
        ledger: RunLedger | None = None,
        images: ImageWork | None = None,
    ) -> None:
        """Load the unfinished jobs; runs in the new process.

        After a restart the queue also takes over the running workers and
        has the RetryManager set the timers of the jobs waiting to retry.

        Args:
            config: the run's settings.
            state: the durable state; unfinished jobs in it are resumed.
            ledger: what survives the queue's restarts within the run.
            images: image mode's folders and pool; None to simulate the work.
        """
        ledger = ledger if ledger is not None else RunLedger(config.seed)
        self._config = config
        self._images = images
        self._ledger = ledger
        self._expected: dict[str, float] = {}
        self._names = config.names
        self._sim = config.simulation
        self._state = state
        self._factory = ledger.factory
        self._counts = ledger.totals
        self._pending: deque[Job] = deque()
        self._flights: dict[greensup.Pid, _Flight] = {}
        self._retrying: dict[str, _Retry] = {}
        self._pool = WorkerPool(config, images)
        self._draining = False
        self._drain_waiters: list[greensup.Caller] = []
        self._drain_deadline: float | None = None
        self._drain_timer: greensup.TimerRef | None = None
        self._idle_watchers: list[greensup.Pid] = []
        self._flush_queued = False
        self._flush_waiters: list[tuple[greensup.Caller, Any]] = []
        self._unheard: deque[Activity] = deque(maxlen=UNHEARD_KEPT)

        self._resume(first=not ledger.started)
        ledger.started = True
        self._adopt_workers()

    # -- requests ---------------------------------------------------------

    def handle_call(self, request: Any, caller: greensup.Caller) -> Any:
        """Answer a call; runs in the queue's process."""
        match request:
            case ("submit", int()) if self._images is not None:
                return self._reply_when_durable(caller, self._rescan())
            case ("submit", int() as count):
                jobs = [self._factory.make() for _ in range(count)]
                return self._reply_when_durable(caller, self._submit(jobs))
            case ("submit_jobs", jobs):
                return self._reply_when_durable(caller, self._submit(jobs))
            case "snapshot":
                return self._snapshot()
            case "counts":
                return self._current_counts()
            case ("locate", str() as job_id):
                return self._locate(job_id)
            case "add_worker":
                return self._add_worker()
            case "remove_worker":
                return self._remove_worker()
            case ("drain", timeout):
                return self._drain(float(timeout), caller)
            case "retrying":
                now = time.monotonic()
                return [
                    (job_id, entry.job.attempts, max(0.0, entry.due - now))
                    for job_id, entry in self._retrying.items()
                ]
            case ("may_retire", greensup.Pid() as pid):
                return self._may_retire(pid)
            case "announce":
                return self._announce()
        raise ValueError(f"unknown queue request {request!r}")

    def handle_cast(self, request: Any) -> None:
        """Handle a cast; runs in the queue's process."""
        match request:
            case ("done", pid, job_id, outcome, error):
                self._on_done(pid, job_id, outcome, error)
            case ("retry_due", job_id, attempts):
                self._on_retry_due(job_id, attempts)
            case ("worker_up", greensup.Pid() as pid):
                self._add_worker_entry(pid)
                self._dispatch()
            case ("submit", int()) if self._images is not None:
                self._rescan()
            case ("submit", int() as count):
                self._submit(self._factory.make() for _ in range(count))
            case ("notify_idle", greensup.Pid() as pid):
                self._idle_watchers.append(pid)
                self._after_change()
            case _:
                raise ValueError(f"unknown queue request {request!r}")

    def handle_info(self, msg: Any) -> None:
        """Handle worker ``Down`` messages and the drain deadline."""
        match msg:
            case greensup.Down(pid=greensup.Pid() as pid, reason=reason):
                self._on_worker_down(pid, reason)
            case ("flush",):
                self._flush()
            case ("drain_deadline",):
                self._on_drain_deadline()

    # -- intake -----------------------------------------------------------

    def _resume(self, first: bool) -> None:
        now_wall, now = time.time(), time.monotonic()
        saved = self._state.load()
        for record in saved:
            if record.status == "retrying" and record.due_at is not None:
                left = max(0.0, record.due_at - now_wall)
                self._retrying[record.job.id] = _Retry(record.job, now + left)
                request = ("schedule", record.job.id, record.job.attempts, left)
                greensup.cast(self._names.retry, request)  # none yet at first
            else:
                self._pending.append(record.job)
        if not first:
            return
        self._bump(resumed=len(saved))
        if len(saved) <= QUEUED_ONE_BY_ONE:
            for record in saved:
                job = record.job
                self._emit("resumed", job, job.attempts + 1, detail="from the last run")
        elif saved:
            self._emit("resumed", detail=f"{len(saved)} jobs from the last run")

    def _adopt_workers(self) -> None:
        # After a restart the workers are still there, idle or finishing
        # jobs for the previous queue, whose results will be ignored: their
        # jobs were loaded as unfinished and will run again.
        if greensup.whereis(self._names.workers) is None:
            return
        children = greensup.DynamicSupervisor.which_children(self._names.workers)
        for _id, pid, _type, _restart in children:
            if pid is not None:
                self._add_worker_entry(pid)

    def _submit(self, jobs: Any) -> tuple[int, int]:
        result = self._admit(jobs)
        self._dispatch()
        return result

    def _admit(self, jobs: Any) -> tuple[int, int]:
        accepted = rejected = 0
        queued: list[Job] = []
        for job in jobs:
            self._bump(submitted=1)
            if self._draining or len(self._pending) >= self._config.max_depth:
                rejected += 1
                self._bump(rejected=1)
                why = "intake stopped" if self._draining else "queue full"
                limit = self._config.max_depth
                self._emit("rejected", job, 0, detail=f"{why} ({limit} pending max)")
                continue

            accepted += 1
            self._state.save(job, "pending")
            self._pending.append(job)
            queued.append(job)

        if len(queued) <= QUEUED_ONE_BY_ONE:
            for job in queued:
                self._emit("queued", job, 1)
        else:
            files = f"{queued[0].file_name} to {queued[-1].file_name}"
            self._emit("queued", detail=f"{len(queued)} jobs, {files}")
        self._changed_state()
        return accepted, rejected

    def _top_up(self) -> None:
        # Image mode: submit from the folder's intake what fits under the
        # backpressure bound, so that no job of the folder is rejected.
        intake = self._ledger.intake
        room = self._config.max_depth - len(self._pending)
        if not intake or room <= 0 or self._draining or not self._ledger.announced:
            return
        count = min(room, len(intake))
        pairs = [intake.popleft() for _ in range(count)]
        self._admit(self._factory.make_for(*pair) for pair in pairs)

    def _rescan(self) -> tuple[int, int]:
        # Image mode's answer to a request for more jobs: the folder's files
        # that arrived since the start.
        assert self._images is not None, "a rescan outside image mode"
        new, _done = self._images.todo(self._ledger.known)
        self._ledger.intake.extend(new)
        self._ledger.known.update(new)
        if new:
            self._emit("queued", detail=f"{len(new)} new jobs found in the folder")
        self._dispatch()
        return len(new), 0

    def _reply_when_durable(self, caller: greensup.Caller, result: Any) -> Any:
        # Group commit: the caller learns its jobs are accepted once they are
        # saved (or already finished), at the next flush.
        self._flush_waiters.append((caller, result))
        return greensup.NoReply

    def _flush(self) -> None:
        self._flush_queued = False
        self._state.flush()
        waiters, self._flush_waiters = self._flush_waiters, []
        for caller, result in waiters:
            self.reply(caller, result)

    # -- dispatch and results ---------------------------------------------

    def _dispatch(self) -> None:
        while not self._draining:
            self._top_up()
            while self._pending and self._pool.has_idle:
                pid = self._pool.take_idle()
                job = self._pending.popleft()
                attempt = job.attempts + 1
                plan = self._sim.plan(job, attempt)
                expected = self._expected_time(job, plan)
                flight = _Flight(job, plan, attempt, time.monotonic(), expected)
                self._flights[pid] = flight
                greensup.cast(pid, ("run", job, plan))
                self._top_up()
            # Not while the tree starts: the WorkerSupervisor is still
            # starting its own workers, and must find room for them all.
            announced = self._ledger.announced
            if not announced or not self._pool.should_grow(len(self._pending)):
                break
            if not self._start_worker():
                break
        self._after_change()

    def _on_done(
        self, pid: greensup.Pid, job_id: str, outcome: str, error: str | None
    ) -> None:
        flight = self._flights.get(pid)
        if flight is None or flight.job.id != job_id:
            return  # abandoned at a drain deadline: the job is pending again
        del self._flights[pid]
        self._pool.free(pid)
        elapsed = time.monotonic() - flight.started

        job = flight.job
        if outcome == "ok":
            self._learn_time(job.type, elapsed)
            self._bump(completed=1)
            self._state.remove(job.id)
            self._changed_state()
            self._emit("completed", job, flight.attempt, elapsed, DONE_VERB[job.type])
        else:
            self._bump(failed=1)
            message = error or "unknown error"
            retryable = outcome != "permanent"
            attempt = flight.attempt
            self._attempt_failed(job, attempt, message, elapsed, False, retryable)
        self._dispatch()

    def _attempt_failed(
        self,
        job: Job,
        attempt: int,
        error: str,
        elapsed: float,
        crashed: bool,
        retryable: bool = True,
    ) -> None:
        job = job.after_failure(error)
        kind = "crashed" if crashed else "failed"
        if job.attempts >= MAX_ATTEMPTS or not retryable:
            why = "no retries left" if retryable else "permanent, not retried"
            self._bump(dead_lettered=1)
            self._emit(kind, job, attempt, elapsed, f"{error}; {why}")
            self._dead_letter(job)
            return

        retry = job.attempts
        # A crash says nothing about the job: it goes back at once. An error
        # may be the job's own, so it waits for its backoff.
        delay = 0.0 if crashed else backoff(retry, self._config.speed)
        self._bump(retried=1)
        self._retrying[job.id] = _Retry(job, time.monotonic() + delay)
        self._state.save(job, "retrying", time.time() + delay)
        self._changed_state()
        greensup.cast(self._names.retry, ("schedule", job.id, job.attempts, delay))
        when = f"in {delay:.2f}s" if delay else "now"
        detail = f"{error}; retry {retry}/{MAX_RETRIES} {when}"
        self._emit(kind, job, attempt, elapsed, detail)

    def _dead_letter(self, job: Job) -> None:
        try:
            greensup.call(self._names.dead_letters, ("add", job))
        except greensup.GreensupError as exc:
            # The store process is restarting: write through the same state.
            _log.warning("dead-letter store unavailable (%r); writing directly", exc)
            self._state.add_dead_letter(job)
        self._changed_state()
        retries = job.attempts - 1
        plural = "s" if job.attempts != 1 else ""
        detail = (
            f"after {job.attempts} attempt{plural} ({retries}/{MAX_RETRIES} retries)"
        )
        self._emit("dead_lettered", job, job.attempts, detail=detail)

    def _on_retry_due(self, job_id: str, attempts: int) -> None:
        entry = self._retrying.get(job_id)
        if entry is None or entry.job.attempts != attempts:
            return  # a duplicate timer from a restarted RetryManager
        del self._retrying[job_id]
        self._pending.appendleft(entry.job)
        self._emit(
            "requeued",
            entry.job,
            attempts + 1,
            detail=f"retry {attempts}/{MAX_RETRIES} due",
        )
        self._dispatch()

    def _on_worker_down(self, pid: greensup.Pid, reason: Any) -> None:
        entry = self._pool.remove(pid)
        if entry is None:
            return
        text = describe_reason(reason)
        flight = self._flights.pop(pid, None)

        if flight is not None or not _is_normal(reason):
            job = flight.job if flight is not None else None
            crash = CrashInfo(
                time.time(), job.id if job else None, job.file_name if job else "", text
            )
            self._pool.last_crash[entry.slot] = crash
        if flight is not None:
            self._bump(crashed=1)
            elapsed = time.monotonic() - flight.started
            error = f"crash: {text}"
            self._attempt_failed(flight.job, flight.attempt, error, elapsed, True)
        self._emit("worker_removed", detail=f"worker #{entry.slot} {pid} ({text})")
        if not self._draining and self._pool.below_target():
            self._start_worker()
        self._dispatch()

    # -- the pool ---------------------------------------------------------

    def _add_worker_entry(self, pid: greensup.Pid) -> None:
        slot = self._pool.add(pid)
        if slot is not None:
            self._emit("worker_added", detail=f"worker #{slot} {pid}")

    def _start_worker(self) -> bool:
        started = self._pool.start_worker()
        if started is None:
            return False
        pid, slot = started
        self._emit("worker_added", detail=f"worker #{slot} {pid}")
        return True

    def _add_worker(self) -> bool:
        if self._draining or not self._start_worker():
            return False
        self._pool.grow_target()
        self._dispatch()
        return True

    def _remove_worker(self) -> bool:
        return self._pool.retire_one()

    def _may_retire(self, pid: greensup.Pid) -> bool:
        return not self._draining and self._pool.may_retire(pid)

    # -- graceful stop ----------------------------------------------------

    def _drain(self, timeout: float, caller: greensup.Caller) -> Any:
        if not self._draining:
            self._draining = True
            count = len(self._flights)
            detail = f"intake stopped, {count} in flight, deadline {timeout:.1f}s"
            self._emit("draining", detail=detail)
        if not self._flights:
            self._finish_drain(True)
            return True

        self._drain_waiters.append(caller)
        if self._drain_timer is None:
            self._drain_deadline = time.monotonic() + timeout
            self._drain_timer = greensup.timer.send_after(
                timeout, self.pid, ("drain_deadline",)
            )
        return greensup.NoReply

    def _on_drain_deadline(self) -> None:
        if not self._draining or not self._flights:
            return
        # Too late: the jobs go back to pending (their saved records still
        # say so) and whatever their workers report later is ignored.
        flights = list(self._flights.values())
        self._flights.clear()
        for flight in flights:
            self._pending.appendleft(flight.job)
        self._finish_drain(False, f"{len(flights)} unfinished jobs back to pending")

    def _finish_drain(self, complete: bool, detail: str = "") -> None:
        if self._drain_timer is not None:
            greensup.timer.cancel(self._drain_timer)
            self._drain_timer = None
        self._drain_deadline = None
        self._flush()
        self._emit("drained", detail=detail or "nothing in flight")
        waiters, self._drain_waiters = self._drain_waiters, []
        for caller in waiters:
            self.reply(caller, complete)

    def _changed_state(self) -> None:
        # One transaction per FLUSH_DELAY, however many jobs come and go: a
        # commit costs far more than a change, and a job that finishes before
        # the flush is never written at all.
        if not self._flush_queued:
            self._flush_queued = True
            greensup.timer.send_after(FLUSH_DELAY, self.pid, ("flush",))

    def _after_change(self) -> None:
        if self._draining and self._drain_waiters and not self._flights:
            self._finish_drain(True)
        if self._idle_watchers and self._is_idle():
            watchers, self._idle_watchers = self._idle_watchers, []
            for pid in watchers:
                greensup.send(pid, ("queue_idle", self.pid))

    def _is_idle(self) -> bool:
        busy = self._pending or self._flights or self._retrying
        return not (busy or self._ledger.intake)

    def _expected_time(self, job: Job, plan: AttemptPlan) -> float:
        if self._images is None:
            return plan.duration
        return self._expected.get(job.type, FIRST_GUESS)

    def _learn_time(self, job_type: str, elapsed: float) -> None:
        # Image mode: the dashboard's progress bars run against a moving
        # average of the real run times, waits for the image pool included.
        if self._images is not None:
            before = self._expected.get(job_type, elapsed)
            self._expected[job_type] = 0.8 * before + 0.2 * elapsed

    # -- snapshots --------------------------------------------------------

    def _bump(self, **deltas: int) -> None:
        for key, n in deltas.items():
            self._counts[key] += n

    def _current_counts(self) -> Counts:
        return Counts(
            **self._counts,
            pending=len(self._pending),
            in_flight=len(self._flights),
            retrying=len(self._retrying),
        )

    def _locate(self, job_id: str) -> str | None:
        if job_id in self._retrying:
            return "retrying"
        if any(flight.job.id == job_id for flight in self._flights.values()):
            return "in_flight"
        if any(job.id == job_id for job in self._pending):
            return "pending"
        return None

    def _snapshot(self) -> QueueSnapshot:
        now = time.monotonic()
        workers = sorted(
            (
                self._worker_view(pid, entry, now)
                for pid, entry in self._pool.entries.items()
            ),
            key=lambda view: view.slot,
        )
        retries = sorted(
            (
                RetryView(
                    r.job.id,
                    r.job.type,
                    r.job.file_name,
                    r.job.attempts,
                    max(0.0, r.due - now),
                )
                for r in self._retrying.values()
            ),
            key=lambda view: view.due_in,
        )
        deadline = self._drain_deadline
        return QueueSnapshot(
            counts=self._current_counts(),
            workers=tuple(workers),
            retries=tuple(retries),
            last_crashes=tuple(sorted(self._pool.last_crash.items())),
            target_workers=self._pool.target,
            max_workers=self._config.max_workers,
            max_depth=self._config.max_depth,
            draining=self._draining,
            drain_deadline_in=None if deadline is None else max(0.0, deadline - now),
        )

    def _worker_view(
        self, pid: greensup.Pid, entry: WorkerEntry, now: float
    ) -> WorkerView:
        flight = self._flights.get(pid)
        crash = self._pool.last_crash.get(entry.slot)
        if flight is None:
            return WorkerView(
                entry.slot, pid, None, "", "", 0, 0.0, 0.0, 0.0, entry.retiring, crash
            )
        elapsed = now - flight.started
        expected = flight.expected
        progress = min(1.0, elapsed / expected) if expected > 0 else 1.0
        job = flight.job
        return WorkerView(
            entry.slot,
            pid,
            job.id,
            job.type,
            job.file_name,
            flight.attempt,
            elapsed,
            expected,
            progress,
            entry.retiring,
            crash,
        )

    def _emit(
        self,
        kind: str,
        job: Job | None = None,
        attempt: int = 0,
        elapsed: float | None = None,
        detail: str = "",
    ) -> None:
        activity = Activity(
            kind=kind,
            at=time.time(),
            mono=time.monotonic(),
            job_id=job.id if job else None,
            job_type=job.type if job else "",
            file_name=job.file_name if job else "",
            attempt=attempt,
            elapsed=elapsed,
            detail=detail,
        )
        stats = greensup.whereis(self._names.stats)
        if stats is None:
            # Not started yet (it starts after the queue) or restarting: the
            # activity waits, so that the log misses nothing.
            self._unheard.append(activity)
            return
        while self._unheard:
            greensup.cast(stats, ("event", self._unheard.popleft()))
        greensup.cast(stats, ("event", activity))

    def _announce(self) -> int:
        # Called once the whole tree runs, to hand over what the queue did
        # before the StatsCollector was there: resumed jobs, initial workers.
        self._ledger.announced = True
        count = len(self._unheard)
        stats = greensup.whereis(self._names.stats)
        while stats is not None and self._unheard:
            greensup.cast(stats, ("event", self._unheard.popleft()))
        self._dispatch()  # the pool may grow now, and the intake open
        return count


def _is_normal(reason: Any) -> bool:
    # The same rule as greensup's: 'normal', 'shutdown' or ('shutdown', detail).
    if isinstance(reason, str):
        return reason in ("normal", "shutdown")
    return isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "shutdown"

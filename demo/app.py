"""The demo's Application: its supervision tree, controls, snapshots and summary.

The root supervisor (one_for_one) starts, in order, the JobQueue, the
WorkerSupervisor, the RetryManager, the DeadLetterStore and the
StatsCollector, then a Producer when ``rate`` is above zero. A graceful stop
first stops the producer and drains the queue (no new attempt starts, in-flight
jobs get until the drain deadline), then takes the final counts: the tree stops
only after that.

In image mode (``config.images_dir``) the app also owns the image pool: it
opens it before the tree starts, hands it to the queue and the workers, and
shuts it down once the tree has stopped. The jobs are the input folder's work
not done yet: four per file, less those whose output exists already and those
resumed from the data directory.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import greensup
from demo import images
from demo.config import DemoConfig
from demo.dead_letter import DeadLetterStore
from demo.image_pool import ImagePool, ImageWork
from demo.queue import Counts, JobQueue, QueueSnapshot, RunLedger
from demo.retry import RetryManager, RetryTimer
from demo.state import LocalState, QueueState
from demo.stats import Activity, StatsCollector, StatsSnapshot
from demo.worker_supervisor import worker_supervisor_spec
from greensup import timer

__all__ = [
    "ChildView",
    "DemoSnapshot",
    "JobQueueApp",
    "Producer",
    "Summary",
]

_CALL_TIMEOUT = 10.0


@dataclass(frozen=True)
class Summary:
    """The final counts of a run, as the summary JSON holds them.

    The integer fields are those of :class:`~demo.queue.Counts`, plus
    ``dead_letters_total`` (in the store at exit, earlier runs included);
    ``throughput`` is completed jobs per second over the run and ``avg_ms`` the
    mean run time of completed attempts; ``max_hub_stall_ms`` is the longest
    time the gevent hub could not run (see :class:`~demo.stats.StatsCollector`).
    """

    submitted: int
    rejected: int
    completed: int
    failed: int
    crashed: int
    retried: int
    dead_lettered: int
    pending: int
    in_flight: int
    retrying: int
    resumed: int
    dead_letters_total: int
    throughput: float
    avg_ms: float
    max_hub_stall_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class ChildView:
    """One child of the root supervisor.

    Attributes:
        id: the child id.
        pid: its process, None while it is not running.
        type: ``'worker'`` or ``'supervisor'``.
        restarts: how many times it was restarted in this run.
    """

    id: str
    pid: greensup.Pid | None
    type: str
    restarts: int


@dataclass(frozen=True)
class DemoSnapshot:
    """Everything the dashboard shows, at one moment.

    Attributes:
        queue: the queue, workers, retries and drain state.
        retry_timers: the RetryManager's countdowns.
        stats: throughput, latency, errors and the recent activity.
        dead_letters_total: dead letters in the store, earlier runs included.
        tree: the root supervisor's children with their restart counts.
    """

    queue: QueueSnapshot
    retry_timers: tuple[RetryTimer, ...]
    stats: StatsSnapshot
    dead_letters_total: int
    tree: tuple[ChildView, ...]


class Producer(greensup.GenServer):
    """Submits ``rate`` new jobs per second to the queue, on a timer."""

    def init(self, queue: str, rate: float) -> None:
        """Start the timer; runs in the new process.

        Args:
            queue: the JobQueue's registered name.
            rate: jobs per second, above zero.
        """
        interval = max(1.0 / rate, 0.02)
        self._queue = queue
        self._per_tick = rate * interval
        self._owed = 0.0
        timer.send_interval(interval, self.pid, "tick")

    def handle_info(self, msg: Any) -> None:
        """Submit the jobs due at this tick; the queue rejects past its bound."""
        if msg != "tick":
            return
        self._owed += self._per_tick
        count = int(self._owed)
        self._owed -= count
        if count:
            greensup.cast(self._queue, ("submit", count))


class JobQueueApp(greensup.Application):
    """The job-queue demo as a greensup Application.

    Args:
        config: the run's settings.
        state: the durable state to use; None opens a :class:`LocalState` on
            ``config.data_dir`` at start and closes it at stop.
        on_activity: called in the StatsCollector's process with each activity.

    Attributes:
        summary: the final counts, once the app has stopped gracefully.
        images: image mode's folders and pool while the app runs.
        skipped: image mode: jobs left out at start as their output exists.
    """

    def __init__(
        self,
        config: DemoConfig,
        state: QueueState | None = None,
        on_activity: Callable[[Activity], None] | None = None,
    ) -> None:
        self.config = config
        self.summary: Summary | None = None
        self.state: QueueState | None = state
        self._owns_state = state is None
        self._on_activity = on_activity
        self._starts: Counter[str] = Counter()
        self._started_at = 0.0
        self.images: ImageWork | None = None
        self.skipped = 0

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> greensup.Pid:
        """Build the supervision tree and submit the initial jobs.

        Runs in the process that called ``start_application``.
        """
        if self.state is None:
            self.state = LocalState(self.config.data_dir)
        self._started_at = time.monotonic()
        ledger = RunLedger(self.config.seed)
        if self.config.image_mode:
            ledger = self._open_images(self.state)
        try:
            root = greensup.Supervisor.start_link(
                self._children(self.state, ledger),
                strategy="one_for_one",
                name=self.config.names.root,
            )
        except BaseException:
            self._close_images()
            raise
        self._ask("announce")  # the queue then takes from the folder's intake
        if self.config.jobs:
            self.submit(self.config.jobs)
        return root

    def _open_images(self, state: QueueState) -> RunLedger:
        config = self.config
        assert config.images_dir and config.out_dir, "image mode without folders"
        pool = ImagePool(config.image_pool, config.pool_size)
        work = ImageWork(Path(config.images_dir), Path(config.out_dir), pool)
        resumed = {(saved.job.type, saved.job.file_name) for saved in state.load()}
        todo, self.skipped = work.todo(resumed)
        ledger = RunLedger(config.seed, todo)
        ledger.known.update(resumed)

        # Starting the OS processes takes a while: not in the hub's thread.
        images.run_off_hub(pool.open)
        self.images = work
        return ledger

    def _close_images(self) -> None:
        work, self.images = self.images, None
        if work is not None:
            images.run_off_hub(work.pool.close)

    def prep_stop(self) -> None:
        """Stop the producer, drain the queue, and take the final counts."""
        names = self.config.names
        if self.config.rate > 0 and self.root is not None:
            try:
                greensup.Supervisor.terminate_child(self.root, "producer")
            except greensup.GreensupError:
                pass  # already gone with its supervisor: nothing produces

        seconds = self.config.drain_seconds
        greensup.call(names.queue, ("drain", seconds), timeout=seconds + _CALL_TIMEOUT)
        self.summary = self._summarise()

    def stop(self) -> None:
        """Shut the image pool down; close the durable state if the app opened it.

        Blocks until the pool's OS processes have ended.
        """
        self._close_images()
        if self._owns_state and self.state is not None:
            self.state.close()
            self.state = None

    def _children(
        self, state: QueueState, ledger: RunLedger
    ) -> list[greensup.ChildSpec]:
        config, names = self.config, self.config.names
        children = [
            self._spec(
                "job_queue",
                JobQueue.start_link,
                (config, state, ledger, self.images),
                names.queue,
            ),
            worker_supervisor_spec(config, self.images),
            self._spec(
                "retry_manager", RetryManager.start_link, (names.queue,), names.retry
            ),
            self._spec(
                "dead_letter_store",
                DeadLetterStore.start_link,
                (state,),
                names.dead_letters,
            ),
            self._spec(
                "stats_collector",
                StatsCollector.start_link,
                (config.stats_interval, 5.0, config.history, self._on_activity),
                names.stats,
            ),
        ]
        if config.rate > 0:
            producer = (names.queue, config.rate)
            children.append(
                self._spec("producer", Producer.start_link, producer, names.producer)
            )
        return children

    def _spec(
        self,
        child_id: str,
        start: Callable[..., greensup.Pid],
        args: tuple[Any, ...],
        name: str,
    ) -> greensup.ChildSpec:
        def counted_start(*args: Any) -> greensup.Pid:
            pid = start(*args, name=name)
            self._starts[child_id] += 1
            return pid

        return greensup.ChildSpec(id=child_id, start=counted_start, args=args)

    # -- controls (what the dashboard's keys do) ----------------------------

    def submit(self, count: int) -> tuple[int, int]:
        """Submit ``count`` new jobs; returns ``(accepted, rejected)``.

        Blocks until the queue has taken them.
        """
        result: tuple[int, int] = self._ask(("submit", count))
        return result

    def add_worker(self) -> bool:
        """Add a worker unless the pool is at ``max_workers``. Blocks briefly."""
        return bool(self._ask("add_worker"))

    def remove_worker(self) -> bool:
        """Remove a worker (after its job) unless it is the last one."""
        return bool(self._ask("remove_worker"))

    def _ask(self, request: Any) -> Any:
        return greensup.call(self.config.names.queue, request, _CALL_TIMEOUT)

    def notify_idle(self, pid: greensup.Pid) -> None:
        """Have ``('queue_idle', queue_pid)`` sent to ``pid`` once the queue is idle."""
        greensup.cast(self.config.names.queue, ("notify_idle", pid))

    # -- snapshots ----------------------------------------------------------

    def counts(self) -> Counts:
        """Return where the jobs are now. Blocks for one call to the queue."""
        counts: Counts = self._ask("counts")
        return counts

    def snapshot(self) -> DemoSnapshot:
        """Return what the dashboard shows. Blocks for one call per component."""
        names = self.config.names
        return DemoSnapshot(
            queue=greensup.call(names.queue, "snapshot", _CALL_TIMEOUT),
            retry_timers=greensup.call(names.retry, "snapshot", _CALL_TIMEOUT),
            stats=greensup.call(names.stats, "snapshot", _CALL_TIMEOUT),
            dead_letters_total=greensup.call(
                names.dead_letters, "count", _CALL_TIMEOUT
            ),
            tree=self.tree(),
        )

    def tree(self) -> tuple[ChildView, ...]:
        """Return the root supervisor's children with their restart counts."""
        if self.root is None:
            return ()
        children = greensup.Supervisor.which_children(self.root)
        return tuple(
            ChildView(str(child_id), pid, kind, max(0, self._starts[child_id] - 1))
            for child_id, pid, kind, _restart in children
        )

    def _summarise(self) -> Summary:
        names = self.config.names
        counts = self.counts()
        stats = greensup.call(names.stats, "snapshot", _CALL_TIMEOUT)
        total = greensup.call(names.dead_letters, "count", _CALL_TIMEOUT)
        elapsed = max(time.monotonic() - self._started_at, 1e-9)
        return Summary(
            **asdict(counts),
            dead_letters_total=total,
            throughput=round(counts.completed / elapsed, 3),
            avg_ms=round(stats.avg_ms, 3),
            max_hub_stall_ms=round(stats.max_hub_stall_ms, 1),
        )

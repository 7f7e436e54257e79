"""The demo's settings and the registered names of its processes.

A :class:`DemoConfig` is what the command line produces and what the
Application and every process of its tree are started with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from demo.job import Simulation

__all__ = ["IMAGE_DRAIN_SECONDS", "DemoConfig", "Names"]

#: Real seconds a graceful stop in image mode gives the jobs in flight.
IMAGE_DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class Names:
    """Registered names of the demo's processes."""

    root: str = "demo.root"
    queue: str = "demo.job_queue"
    workers: str = "demo.worker_supervisor"
    retry: str = "demo.retry_manager"
    dead_letters: str = "demo.dead_letter_store"
    stats: str = "demo.stats_collector"
    producer: str = "demo.producer"


@dataclass(frozen=True)
class DemoConfig:
    """Everything a run of the demo is started with.

    Attributes:
        workers: pool size at start, and the size idle workers shrink back to.
        max_workers: upper bound of the pool.
        jobs: jobs submitted at start.
        rate: further jobs per second from the producer (0: no producer).
        max_depth: pending jobs past which a submission is rejected.
        failure_rate: share of attempts that fail with a transient error.
        crash_rate: share of attempts that crash their worker.
        speed: divides every simulated duration and backoff (not real image
            work, which takes what it takes).
        seed: seeds the jobs and faults; None for a new sequence each run.
        data_dir: directory of the durable state; None keeps it in memory.
        cost_scale: multiplies every job cost; 0 makes jobs free.
        idle_timeout: simulated seconds after which an idle worker beyond
            ``workers`` stops.
        drain_timeout: real seconds in-flight jobs get to finish at a graceful
            stop; None derives it from the longest job and ``speed``.
        autoscale: add workers, up to ``max_workers``, while the backlog is
            larger than the pool.
        stats_interval: real seconds between throughput updates.
        history: activity entries kept for the dashboard.
        names: registered names of the processes.
        images_dir: image mode: the folder whose files become jobs; None runs
            the simulation.
        out_dir: image mode: where the results are written.
        image_pool: image mode: ``'process'`` (a pool of OS processes) or
            ``'thread'`` (a pool of threads) does the work.
        pool_size: image mode: OS processes or threads in that pool; None
            gives one per core.
    """

    workers: int = 4
    max_workers: int = 8
    jobs: int = 20
    rate: float = 0.0
    max_depth: int = 100
    failure_rate: float = 0.2
    crash_rate: float = 0.05
    speed: float = 1.0
    seed: int | None = None
    data_dir: str | None = None
    cost_scale: float = 1.0
    idle_timeout: float = 5.0
    drain_timeout: float | None = None
    autoscale: bool = True
    stats_interval: float = 1.0
    history: int = 50
    names: Names = field(default_factory=Names)
    images_dir: str | None = None
    out_dir: str | None = None
    image_pool: str = "process"
    pool_size: int | None = None

    @property
    def image_mode(self) -> bool:
        """Whether jobs are real image work on the files of ``images_dir``."""
        return self.images_dir is not None

    @property
    def simulation(self) -> Simulation:
        """The simulation these settings describe."""
        return Simulation(
            failure_rate=self.failure_rate,
            crash_rate=self.crash_rate,
            speed=self.speed,
            cost_scale=self.cost_scale,
        )

    @property
    def drain_seconds(self) -> float:
        """Real seconds a graceful stop waits for in-flight jobs."""
        if self.drain_timeout is not None:
            return self.drain_timeout
        simulated = 1.0 + 2.0 * 2.0 / self.speed
        # Real work is not scaled by the speed, and a job may wait its turn in
        # the image pool behind the jobs of other workers.
        return max(simulated, IMAGE_DRAIN_SECONDS) if self.image_mode else simulated

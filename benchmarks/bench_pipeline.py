"""End-to-end throughput of the job-queue demo: zero-cost jobs, no faults.

Pushes jobs through the whole supervision tree (queue, workers, durable
state, statistics and activity log all running) and reports completed jobs
per second, from the first submission to the queue going idle. The producer
keeps about 500 jobs pending, like a steady source the queue keeps up with.

Run it as ``python benchmarks/bench_pipeline.py [--quick] [--memory]`` or
call :func:`measure` from another script.
"""

from __future__ import annotations

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402

import greensup  # noqa: E402
from demo.app import JobQueueApp  # noqa: E402
from demo.config import DemoConfig  # noqa: E402

__all__ = ["measure"]

FULL_JOBS = 20_000
QUICK_JOBS = 2_000
_BACKLOG = 500


def measure(jobs: int = FULL_JOBS, workers: int = 4, durable: bool = True) -> float:
    """Run ``jobs`` zero-cost jobs through the demo; return jobs per second.

    Blocks until every job has completed and the application has stopped.

    Args:
        jobs: how many jobs to push through.
        workers: the pool size (fixed: no autoscaling).
        durable: keep the queue's state in Store files in a temporary
            directory, as the demo does; False keeps it in memory.
    """
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        config = DemoConfig(
            workers=workers,
            max_workers=workers,
            jobs=0,
            max_depth=jobs,
            failure_rate=0.0,
            crash_rate=0.0,
            cost_scale=0.0,
            autoscale=False,
            data_dir=scratch if durable else None,
        )
        app = JobQueueApp(config)
        greensup.start_application(app)
        try:
            elapsed = _push(app, jobs)
            completed = app.counts().completed
        finally:
            greensup.stop_application(app)

    assert completed == jobs, f"only {completed} of {jobs} jobs completed"
    return jobs / elapsed


def _push(app: JobQueueApp, jobs: int) -> float:
    # A producer that keeps about _BACKLOG jobs pending, as a steady source
    # would: the queue is never starved, and never buried either.
    me = greensup.self_pid()
    started = time.perf_counter()
    left = jobs
    while left:
        room = _BACKLOG - app.counts().pending
        if room <= 0:
            gevent.sleep(0.001)
            continue
        batch = min(room, left)
        app.submit(batch)
        left -= batch

    app.notify_idle(me)
    greensup.receive(timeout=300, match=lambda m: m[:1] == ("queue_idle",))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Print the pipeline's jobs per second; ``--quick`` for a short run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_JOBS} jobs")
    parser.add_argument("--jobs", type=int, default=None, help="jobs to push")
    parser.add_argument("--memory", action="store_true", help="in-memory state")
    args = parser.parse_args(argv)

    jobs = args.jobs or (QUICK_JOBS if args.quick else FULL_JOBS)
    rate = measure(jobs, durable=not args.memory)
    where = "in memory" if args.memory else "in Store files"
    print(f"pipeline: {jobs} jobs, state {where}: {rate:,.0f} jobs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The job-queue demo's pipeline, end to end, with zero-cost jobs and no faults.

The measurement is the demo's own (``bench_pipeline.measure``): the whole
supervision tree runs (queue, workers, durable state, statistics and activity
log, all the data the dashboard shows), a producer keeps a few hundred jobs
pending, and the figure is completed jobs per second from the first submission
until the queue is idle.
"""

from __future__ import annotations

from _common import Figures, Unsupported, settle

__all__ = ["run_pipeline"]


def run_pipeline(n: int) -> Figures:
    """Push ``n`` jobs through the demo's supervision tree; return jobs per second."""
    try:
        from bench_pipeline import measure
    except ImportError as exc:
        raise Unsupported(f"pending: the demo is not there yet ({exc.name})") from exc

    settle()
    return {"rate": measure(n)}

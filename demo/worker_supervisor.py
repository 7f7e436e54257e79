"""The WorkerSupervisor: a DynamicSupervisor that starts with the initial pool.

Its child spec's start function starts the DynamicSupervisor, linked to the
root supervisor that calls it, then the ``--workers`` initial workers. Workers
are temporary children: the JobQueue, not the supervisor, decides whether a
crashed worker is replaced, so the pool can also shrink when idle.
"""

from __future__ import annotations

import greensup
from demo.config import DemoConfig
from demo.image_pool import ImageWork
from demo.worker import worker_spec

__all__ = ["start_link", "worker_supervisor_spec"]


def start_link(config: DemoConfig, images: ImageWork | None = None) -> greensup.Pid:
    """Start the WorkerSupervisor and its initial workers; blocks until they run.

    Called in the root supervisor's process, which the new supervisor links to.
    ``images`` is image mode's folders and pool, None to simulate the work.

    Raises:
        StartError: a worker failed to start; the supervisor is stopped again.
    """
    sup = greensup.DynamicSupervisor.start_link(
        max_children=config.max_workers, name=config.names.workers
    )
    try:
        for _ in range(config.workers):
            greensup.DynamicSupervisor.start_child(sup, worker_spec(config, images))
    except BaseException:
        greensup.Supervisor.stop(sup)
        raise
    return sup


def worker_supervisor_spec(
    config: DemoConfig, images: ImageWork | None = None
) -> greensup.ChildSpec:
    """Return the WorkerSupervisor's child spec for the root supervisor."""
    return greensup.ChildSpec(
        id="worker_supervisor",
        start=start_link,
        args=(config, images),
        type="supervisor",
    )

"""The JobQueue's view of its workers: who is idle, who retires, how many to keep.

:class:`WorkerPool` is plain bookkeeping owned by the JobQueue's process, not a
process of its own: it numbers the workers (slots #1, #2...), monitors them,
keeps the idle ones in order, remembers each slot's last crash, and starts
workers under the WorkerSupervisor. The queue decides when to use it.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import greensup
from demo.config import DemoConfig
from demo.image_pool import ImageWork
from demo.snapshots import CrashInfo
from demo.worker import worker_spec

__all__ = ["WorkerEntry", "WorkerPool"]

_log = logging.getLogger("demo.queue")


@dataclass
class WorkerEntry:
    """One worker of the pool.

    Attributes:
        slot: the worker's number; a replacement takes the lowest free one.
        ref: the queue's monitor of the worker.
        retiring: the worker stops once it is idle.
    """

    slot: int
    ref: greensup.Ref
    retiring: bool = False


class WorkerPool:
    """The workers of one JobQueue; see the module docstring.

    Every method runs in the queue's process. Only :meth:`start_worker` blocks
    (it calls the WorkerSupervisor).

    Args:
        config: the run's settings: ``workers`` is the size idle workers shrink
            back to, ``max_workers`` the bound.
        images: image mode's folders and pool, for new workers.
    """

    def __init__(self, config: DemoConfig, images: ImageWork | None = None) -> None:
        self._config = config
        self._images = images
        self.entries: dict[greensup.Pid, WorkerEntry] = {}
        self.last_crash: dict[int, CrashInfo] = {}
        self.target = config.workers
        self._idle: deque[greensup.Pid] = deque()

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def has_idle(self) -> bool:
        """Whether a worker is free for a job."""
        return bool(self._idle)

    def is_idle(self, pid: greensup.Pid) -> bool:
        """Whether ``pid`` is free for a job."""
        return pid in self._idle

    def add(self, pid: greensup.Pid) -> int | None:
        """Monitor a new idle worker; return its slot, None if already known."""
        if pid in self.entries:
            return None
        taken = {entry.slot for entry in self.entries.values()}
        slot = next(n for n in range(1, len(taken) + 2) if n not in taken)
        self.entries[pid] = WorkerEntry(slot, greensup.monitor(pid))
        self._idle.append(pid)
        return slot

    def remove(self, pid: greensup.Pid) -> WorkerEntry | None:
        """Forget a worker that exited; return its entry, None if unknown."""
        entry = self.entries.pop(pid, None)
        if entry is not None and pid in self._idle:
            self._idle.remove(pid)
        return entry

    def take_idle(self) -> greensup.Pid:
        """Return the worker idle the longest, now busy."""
        return self._idle.popleft()

    def free(self, pid: greensup.Pid) -> None:
        """Take back a worker whose attempt ended; a retiring one is told to stop."""
        entry = self.entries.get(pid)
        if entry is None:
            return
        if entry.retiring:
            greensup.cast(pid, ("retire",))
        else:
            self._idle.append(pid)

    def active(self) -> int:
        """Return how many workers are not retiring."""
        return sum(1 for entry in self.entries.values() if not entry.retiring)

    def start_worker(self) -> tuple[greensup.Pid, int] | None:
        """Start a worker under the WorkerSupervisor unless the pool is full.

        Blocks until the worker has started. Returns its pid and slot, or None
        if none was started.
        """
        if len(self.entries) >= self._config.max_workers:
            return None
        spec = worker_spec(self._config, self._images)
        supervisor = self._config.names.workers
        try:
            pid = greensup.DynamicSupervisor.start_child(supervisor, spec)
        except greensup.GreensupError as exc:
            _log.warning("could not start a worker: %r", exc)
            return None
        slot = self.add(pid)
        return None if slot is None else (pid, slot)

    def should_grow(self, pending: int) -> bool:
        """Whether the backlog calls for one more worker (with ``autoscale``)."""
        return (
            self._config.autoscale
            and not self._idle
            and pending > len(self.entries)
            and len(self.entries) < self._config.max_workers
        )

    def below_target(self) -> bool:
        """Whether the pool has fewer workers than it should keep."""
        return len(self.entries) < max(1, self.target)

    def grow_target(self) -> None:
        """Keep a worker added by hand, up to the ``workers`` count."""
        self.target = min(self._config.workers, max(self.target, self.active()))

    def retire_one(self) -> bool:
        """Have one worker stop: an idle one at once, else a busy one after its job.

        Returns False, doing nothing, when that would leave no worker.
        """
        active = self.active()
        if active <= 1:
            return False
        candidates = [pid for pid, e in self.entries.items() if not e.retiring]
        idle = [pid for pid in candidates if pid in self._idle]
        pid = max(idle or candidates, key=lambda p: self.entries[p].slot)

        self.entries[pid].retiring = True
        self.target = max(1, min(self.target, active - 1))
        if pid in self._idle:
            self._idle.remove(pid)
            greensup.cast(pid, ("retire",))
        return True

    def may_retire(self, pid: greensup.Pid) -> bool:
        """Let an idle worker beyond the target stop; returns whether it may."""
        entry = self.entries.get(pid)
        if entry is None or entry.retiring or pid not in self._idle:
            return False
        if self.active() <= max(1, self.target):
            return False
        self._idle.remove(pid)
        entry.retiring = True
        return True

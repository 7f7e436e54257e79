"""The DeadLetterStore: jobs that used all their retries, kept durably.

A dead letter keeps the job's id, type, file name, attempts and every error,
and survives restarts: it lives in the durable state's dead-letter Store.
"""

from __future__ import annotations

from typing import Any

import greensup
from demo.job import Job
from demo.state import QueueState

__all__ = ["DeadLetterStore"]


class DeadLetterStore(greensup.GenServer):
    """The GenServer in front of the dead letters of a :class:`QueueState`.

    Calls: ``('add', job)`` stores a job (and forgets it as unfinished);
    ``'count'`` returns how many are stored, earlier runs included;
    ``('list', limit)`` returns the newest ``limit`` dead letters (all for
    None), oldest first.
    """

    def init(self, state: QueueState) -> None:
        """Take over ``state``'s dead letters; runs in the new process."""
        self._state = state

    def handle_call(self, request: Any, caller: greensup.Caller) -> Any:
        """Store, count or list dead letters; runs in the store's process."""
        match request:
            case ("add", Job() as job):
                self._state.add_dead_letter(job)
                return None
            case "count":
                return self._state.dead_letter_count()
            case ("list", limit):
                jobs = self._state.dead_letters()
                return tuple(jobs if limit is None else jobs[-limit:])
        raise ValueError(f"unknown dead-letter request {request!r}")

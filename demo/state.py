"""The queue's durable state behind one small interface.

:class:`QueueState` is all the demo's processes know about where jobs are kept:
the jobs not finished yet (pending or waiting for a retry) and the dead
letters. :class:`LocalState` keeps them in two greensup ``Store`` files in the
data directory; a shared server could implement the same interface so that
several machines work one queue.

A job is saved when it is submitted, saved again with its errors when an
attempt fails, removed when it completes, and moved to the dead letters when
it has no retries left. A job in flight keeps its last saved record. Changes to
unfinished jobs are kept aside until :meth:`QueueState.flush`, which commits
them as one transaction: the JobQueue flushes before it acknowledges new jobs
and after each run of messages, so a killed OS process loses no accepted job,
though the last few changes before it died may be undone (a job finished just
before is then run again after the restart). Dead letters are written at once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import greensup
from demo.job import Job

__all__ = [
    "DEAD_LETTERS_FILE",
    "JOBS_FILE",
    "CorruptState",
    "LocalState",
    "QueueState",
    "SavedJob",
    "Status",
    "check_state_files",
]

JOBS_FILE = "jobs.sqlite3"
DEAD_LETTERS_FILE = "dead_letters.sqlite3"
_SQLITE_HEADER = b"SQLite format 3\x00"

Status = Literal["pending", "retrying"]


class CorruptState(Exception):
    """A state file cannot be read: not a Store file, or a malformed record.

    Attributes:
        path: the file.
        detail: what is wrong with it.
    """

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"corrupt state file {path}: {detail}")
        self.path = path
        self.detail = detail


@dataclass(frozen=True)
class SavedJob:
    """A job as the durable state holds it.

    Attributes:
        job: the job, with its attempts and errors so far.
        status: ``'pending'`` (also for a job that was in flight) or
            ``'retrying'``.
        due_at: wall-clock time the retry is due, for ``'retrying'``.
    """

    job: Job
    status: Status
    due_at: float | None = None


class QueueState(Protocol):
    """Where the queue keeps unfinished jobs and dead letters.

    Any method may block (and switch greenlets) while the storage works; each
    call's effect is all-or-nothing.
    """

    def save(self, job: Job, status: Status, due_at: float | None = None) -> None:
        """Record ``job`` as unfinished with ``status``, at the next flush."""

    def remove(self, job_id: str) -> None:
        """Forget a finished job at the next flush; unknown ids are ignored."""

    def flush(self) -> None:
        """Commit the saves and removals made since the last flush, all at once."""

    def load(self) -> list[SavedJob]:
        """Return every unfinished job, oldest submission first."""

    def add_dead_letter(self, job: Job) -> None:
        """Store ``job`` as a dead letter now; forget it as unfinished at the flush."""

    def dead_letters(self) -> list[Job]:
        """Return every dead letter, oldest first."""

    def dead_letter_count(self) -> int:
        """Return how many dead letters are stored."""

    def close(self) -> None:
        """Release the storage; the object is unusable afterwards."""


class LocalState:
    """:class:`QueueState` on two greensup ``Store`` files in ``data_dir``.

    Args:
        data_dir: the data directory, which must exist; None keeps everything in
            memory (for tests and benchmarks).

    Raises:
        CorruptState: a file is not a Store file or holds a malformed record.
    """

    def __init__(self, data_dir: str | None) -> None:
        self.data_dir = data_dir
        self._changes: dict[str, dict[str, Any] | None] = {}
        self._stored: set[str] = set()
        if data_dir is None:
            self._jobs = greensup.Store("demo.jobs")
            self._dead = greensup.Store("demo.dead_letters")
            return

        jobs_path = os.path.join(data_dir, JOBS_FILE)
        dead_path = os.path.join(data_dir, DEAD_LETTERS_FILE)
        check_state_files(data_dir)
        self._jobs = _open_store("demo.jobs", jobs_path)
        try:
            self._dead = _open_store("demo.dead_letters", dead_path)
            _check_records(self._jobs, jobs_path, _parse_saved)
            _check_records(self._dead, dead_path, _parse_dead)
            self._stored.update(str(key) for key in self._jobs.keys())
        except BaseException:
            self.close()
            raise

    @staticmethod
    def read_dead_letters(data_dir: str) -> list[Job]:
        """Return the dead letters stored in ``data_dir``, changing nothing.

        Opening an SQLite file writes to it (even just its change counter), so
        this reads a copy made in a temporary directory.

        Raises:
            CorruptState: the dead-letter file is corrupt.
        """
        path = os.path.join(data_dir, DEAD_LETTERS_FILE)
        with tempfile.TemporaryDirectory(prefix="greensup-demo-") as scratch:
            copy = os.path.join(scratch, DEAD_LETTERS_FILE)
            for suffix in ("", "-wal"):
                if os.path.exists(path + suffix):
                    shutil.copyfile(path + suffix, copy + suffix)
            store = _open_store("demo.dead_letters", copy, shown_as=path)
            try:
                _check_records(store, path, _parse_dead)
                jobs = [_parse_dead(value) for value in store.values()]
            finally:
                store.close()
        jobs.sort(key=lambda job: job.submitted_at)
        return jobs

    def save(self, job: Job, status: Status, due_at: float | None = None) -> None:
        """Record ``job`` as unfinished with ``status``, replacing its last record."""
        self._changes[job.id] = {
            "job": job.to_dict(),
            "status": status,
            "due_at": due_at,
        }

    def remove(self, job_id: str) -> None:
        """Forget a finished job; unknown ids are ignored."""
        if job_id in self._stored:
            self._changes[job_id] = None
        else:  # never written: nothing to undo
            self._changes.pop(job_id, None)

    def flush(self) -> None:
        """Commit the changes made since the last flush in one transaction.

        Blocks while the store writes. Changes made meanwhile wait for the
        next flush.
        """
        if not self._changes:
            return
        changes, self._changes = self._changes, {}
        # _stored is updated before the commit, which may switch greenlets: a
        # removal made meanwhile must already know the job is on disk.
        for job_id, record in changes.items():
            if record is None:
                self._stored.discard(job_id)
            else:
                self._stored.add(job_id)
        with self._jobs.transaction() as batch:
            for job_id, record in changes.items():
                if record is None:
                    batch.delete(job_id)
                else:
                    batch.put(job_id, record)

    def load(self) -> list[SavedJob]:
        """Return every unfinished job, oldest submission first; flushes first."""
        self.flush()
        saved = []
        for value in self._jobs.values():
            record = _parse_saved(value)
            if record.job.id in self._dead:  # dead-lettered just before a kill
                self.remove(record.job.id)
            else:
                saved.append(record)
        self.flush()
        saved.sort(key=lambda s: s.job.submitted_at)
        return saved

    def add_dead_letter(self, job: Job) -> None:
        """Store ``job`` as a dead letter now, and forget it as unfinished at the
        next flush: a crash in between leaves a duplicate, never a loss."""
        self._dead.put(job.id, job.to_dict())
        self.remove(job.id)

    def dead_letters(self) -> list[Job]:
        """Return every dead letter, oldest submission first."""
        jobs = [_parse_dead(value) for value in self._dead.values()]
        jobs.sort(key=lambda job: job.submitted_at)
        return jobs

    def dead_letter_count(self) -> int:
        """Return how many dead letters are stored."""
        return len(self._dead)

    def close(self) -> None:
        """Flush, then close both stores."""
        if getattr(self, "_jobs", None) is not None and not self._jobs.closed:
            self.flush()
        for store in (getattr(self, "_jobs", None), getattr(self, "_dead", None)):
            if store is not None:
                store.close()


def check_state_files(data_dir: str) -> None:
    """Check that the state files in ``data_dir`` that exist are Store files.

    Reads file headers only and changes nothing.

    Raises:
        CorruptState: a file is not an SQLite database.
    """
    for name in (JOBS_FILE, DEAD_LETTERS_FILE):
        path = os.path.join(data_dir, name)
        if not os.path.exists(path):
            continue
        if not os.path.isfile(path):
            raise CorruptState(path, "not a regular file")
        try:
            with open(path, "rb") as file:
                header = file.read(len(_SQLITE_HEADER))
        except OSError as exc:
            raise CorruptState(path, exc.strerror or str(exc)) from None
        if header and header != _SQLITE_HEADER:
            raise CorruptState(path, "not an SQLite database")


def _open_store(name: str, path: str, shown_as: str | None = None) -> greensup.Store:
    try:
        return greensup.Store(name, path=path)
    except Exception as exc:
        raise CorruptState(shown_as or path, _cause(exc)) from None


def _cause(exc: BaseException) -> str:
    # The Store's message names its file; the SQLite error under it says why.
    cause = exc.__cause__ or exc
    return str(cause) or type(cause).__name__


def _check_records(store: greensup.Store, path: str, parse: Any) -> None:
    try:
        for value in store.values():
            parse(value)
    except ValueError as exc:
        raise CorruptState(path, str(exc)) from None
    except Exception as exc:
        raise CorruptState(path, f"unreadable: {exc}") from None


def _parse_saved(value: Any) -> SavedJob:
    if not isinstance(value, dict):
        raise ValueError(f"malformed job record: {type(value).__name__}")
    status = value.get("status")
    due_at = value.get("due_at")
    if status not in ("pending", "retrying"):
        raise ValueError(f"malformed job record: status={status!r}")
    if due_at is not None and not isinstance(due_at, (int, float)):
        raise ValueError(f"malformed job record: due_at={due_at!r}")
    return SavedJob(Job.from_dict(value.get("job")), status, due_at)


def _parse_dead(value: Any) -> Job:
    return Job.from_dict(value)

"""The durable Store backend: one SQLite file in WAL mode, written by a thread.

``Store(name, path)`` makes a :class:`SqliteStore`. Writes, with their syncs
and WAL checkpoints, run in one worker thread per store, so a slow disk never
freezes the hub; the calling greenlet waits without blocking other greenlets,
and writes that queue up while the thread is busy are committed together in one
transaction (a group commit). Reads run inline on a second connection, as WAL
readers neither wait for the writer nor take its lock. Waiting for a lock held
by another OS process happens in the worker thread (SQLite's busy timeout) or,
for reads, cooperatively (``gevent.sleep`` between attempts); it ends in
``StoreError`` after ``timeout`` seconds, never in a bare 'database is locked'.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import sqlite3
import time
import weakref
from collections.abc import Callable
from typing import Any

import gevent
from gevent.hub import Waiter
from gevent.monkey import get_original

from greensup._store import Key, Op, Store, StoreError, Synchronous, check_options
from greensup._types import short_repr

__all__ = ["SqliteStore"]

_log = logging.getLogger("greensup.store")

_APPLICATION_ID = 0x67727375  # b"grsu": marks the file as a greensup store
_FORMAT_VERSION = 1
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_GROUP_LIMIT = 512  # most write calls committed in one transaction

_SCHEMA = """\
CREATE TABLE IF NOT EXISTS store (
    key PRIMARY KEY NOT NULL CHECK (typeof(key) IN ('text', 'integer')),
    value TEXT NOT NULL
) WITHOUT ROWID"""
_SQL_PUT = "INSERT OR REPLACE INTO store (key, value) VALUES (?, ?)"
_SQL_DELETE = "DELETE FROM store WHERE key = ?"
_SQL_CLEAR = "DELETE FROM store"
_SQL_GET = "SELECT value FROM store WHERE key = ?"
_SQL_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"

_ENCODE = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")
).encode
_SimpleQueue = get_original("queue", "SimpleQueue")
_start_new_thread = get_original("_thread", "start_new_thread")


class SqliteStore(Store):
    """The durable backend: one SQLite file in WAL mode, one table of JSON text.

    Reads run inline on the hub's connection: they come from the page cache and
    take no lock in WAL mode, and an attempt never switches greenlets, so that
    connection needs no lock. Writes, with their syncs and checkpoints, run on
    the worker thread's connection.
    """

    def __init__(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "normal",
        timeout: float = 30.0,
    ) -> None:
        check_options(synchronous, timeout)
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"store path must be a str or a path, got {path!r}")
        self._set_identity(name, os.path.abspath(os.fspath(path)))
        self._synchronous = synchronous
        self._timeout = float(timeout)
        self._conn: sqlite3.Connection | None = None
        self._worker: _Worker | None = None
        self._open()

    # The public operations.

    def put(self, key: Key, value: Any) -> None:
        if type(key) is not str or not key.isascii():
            self._check_key(key)
        self._commit([("put", key, self._prepare(key, value))])

    def get(self, key: Key, default: Any = None) -> Any:
        if type(key) is not str or not key.isascii():
            self._check_key(key)
        rows = self._read(_SQL_GET, (key,))
        if not rows:
            return default
        return self._decode(key, rows[0][0])

    def delete(self, key: Key) -> bool:
        self._check_key(key)
        return self._commit([("delete", key)]) > 0

    def clear(self) -> None:
        self._commit([("clear",)])

    def keys(self) -> list[Key]:
        return [row[0] for row in self._read("SELECT key FROM store", ())]

    def values(self) -> list[Any]:
        rows = self._read("SELECT key, value FROM store", ())
        return [self._decode(key, text) for key, text in rows]

    def items(self) -> list[tuple[Key, Any]]:
        rows = self._read("SELECT key, value FROM store", ())
        return [(key, self._decode(key, text)) for key, text in rows]

    def close(self) -> None:
        conn, self._conn = self._conn, None
        worker, self._worker = self._worker, None
        if conn is None or worker is None:
            return

        # Writes already queued land before the worker sees the close.
        self._finalizer.detach()
        conn.close()
        try:
            worker.submit("close", None)
        except sqlite3.Error as exc:
            raise self._file_error("close", exc) from exc
        finally:
            worker.stop()
        _log.debug("store closed: name=%r path=%r", self.name, self.path)

    @property
    def closed(self) -> bool:
        return self._conn is None

    def __contains__(self, key: object) -> bool:
        self._check_key(key)
        return bool(self._read("SELECT 1 FROM store WHERE key = ?", (key,)))

    def __len__(self) -> int:
        count: int = self._read("SELECT count(*) FROM store", ())[0][0]
        return count

    # Encoding.

    def _prepare(self, key: Key, value: Any) -> str:
        kind = type(value)
        if kind is int or (kind is str and value.isascii()):
            return _ENCODE(value)
        return _ENCODE(self._plain_value(key, value))

    def _decode(self, key: Key, text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise StoreError(
                f"store {self.name!r}: the value for key {short_repr(key)} in "
                f"{self.path!r} is not valid JSON: {exc}"
            ) from exc

    # Reading and writing.

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        if self._conn is None:
            raise self._closed_error()
        rows: list[Any] = self._retry("read", _fetch, self._conn, sql, params)
        return rows

    def _commit(self, ops: list[Op]) -> int:
        if self._worker is None:
            raise self._closed_error()
        if gevent.get_hub() is not self._worker.hub:
            raise StoreError(
                f"store {self.name!r} was opened in another thread; "
                "write to it from the thread that opened it"
            )
        try:
            changed: int = self._worker.submit("write", ops)
        except sqlite3.Error as exc:
            raise self._file_error("write to", exc) from exc
        return changed

    def _retry(self, action: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn(*args)`` on the hub's connection until no lock is in the way.

        Each attempt runs without switching greenlets; between attempts the
        caller sleeps cooperatively (0.5 ms, doubling up to 50 ms) instead of
        letting SQLite's busy handler block the hub.
        """
        delay = 0.0005
        deadline = None
        while True:
            try:
                return fn(*args)
            except sqlite3.Error as exc:
                if not _is_busy(exc):
                    raise self._file_error(action, exc) from exc
                now = time.monotonic()
                deadline = now + self._timeout if deadline is None else deadline
                if now >= deadline:
                    raise self._file_error(action, exc) from exc
            gevent.sleep(delay)
            delay = min(delay * 2, 0.05)

    # Opening.

    def _open(self) -> None:
        self._check_location()
        assert self.path is not None, "a durable store has a path"
        try:
            conn = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._file_error("open", exc) from exc

        worker = None
        try:
            self._retry("open", self._initialise, conn)
            worker = _Worker()
            worker.submit("open", (self.path, self._synchronous, self._timeout))
        except BaseException as exc:
            conn.close()
            if worker is not None:
                worker.abandon()
                worker.stop()
            if isinstance(exc, sqlite3.Error):
                raise self._file_error("open", exc) from exc
            raise
        self._conn, self._worker = conn, worker
        self._finalizer = weakref.finalize(self, worker.abandon)
        _log.debug(
            "store opened: name=%r path=%r synchronous=%s",
            self.name,
            self.path,
            self._synchronous,
        )

    def _check_location(self) -> None:
        assert self.path is not None, "a durable store has a path"
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            why = f"directory {directory!r} does not exist"
        elif os.path.isdir(self.path):
            why = "it is a directory"
        elif not os.access(directory, os.W_OK | os.X_OK):
            why = f"directory {directory!r} is not writable"
        elif os.path.exists(self.path) and not os.access(self.path, os.R_OK | os.W_OK):
            why = "the file is not readable and writable"
        else:
            return
        raise self._open_error(why)

    def _initialise(self, conn: sqlite3.Connection) -> None:
        """Check that the file is a greensup store, or empty and then set it up.

        Runs on the hub's connection and is retried whole if a lock is busy.
        Only a new, empty file is written to here.
        """
        ours = self._check_owner(conn)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise self._open_error(f"SQLite refused WAL mode (it is in {mode!r} mode)")
        conn.execute(f"PRAGMA synchronous={self._synchronous.upper()}")
        if ours:
            return

        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_SCHEMA)
            conn.execute(f"PRAGMA application_id={_APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={_FORMAT_VERSION}")
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _check_owner(self, conn: sqlite3.Connection) -> bool:
        """Return whether the file is already a greensup store, False if empty."""
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {row[0] for row in conn.execute(_SQL_TABLES)}
        if app_id == 0 and not tables:
            return False
        if app_id != _APPLICATION_ID:
            raise self._open_error("it is an SQLite database but not a greensup store")
        if conn.execute("PRAGMA user_version").fetchone()[0] > _FORMAT_VERSION:
            raise self._open_error("it was written by a newer version of greensup")
        if "store" not in tables:
            raise self._open_error("its 'store' table is missing")
        return True

    def _open_error(self, why: str) -> StoreError:
        return StoreError(f"store {self.name!r}: cannot open {self.path!r}: {why}")

    def _file_error(self, action: str, exc: sqlite3.Error) -> StoreError:
        if self._conn is None and isinstance(exc, sqlite3.ProgrammingError):
            return self._closed_error()
        code = getattr(exc, "sqlite_errorcode", None) or 0
        why = _WHY.get(code & 0xFF, "SQLite failed")
        if _is_busy(exc):
            why = f"it stayed locked by another connection for {self._timeout}s"
        return StoreError(
            f"store {self.name!r}: cannot {action} {self.path!r}: {why} ({exc})"
        )


class _Worker:
    """An OS thread that owns a durable store's writing connection.

    A greenlet hands it a job and waits on a ``Waiter``, so the hub keeps running
    while SQLite writes and syncs; the thread answers through one async watcher.
    Write jobs that are queued together are committed in one transaction (a
    group commit), each job learning its own result. The worker holds no
    reference to its store, so a store that is never closed can still be
    collected, and its thread then closes the connection and ends.
    """

    def __init__(self) -> None:
        self._inbox: Any = _SimpleQueue()
        self._outbox: collections.deque[tuple[Waiter[Any] | None, Any]] = (
            collections.deque()
        )
        self._waiting = 0
        self.hub = gevent.get_hub()
        self._wakeup = self.hub.loop.async_()
        self._wakeup.start(self._deliver)
        self._wakeup.ref = False  # only pending jobs keep the loop alive
        self._conn: sqlite3.Connection | None = None
        _start_new_thread(self._run, ())

    def submit(self, kind: str, payload: Any) -> Any:
        """Queue a job and return its answer; blocks only the calling greenlet.

        Raises:
            sqlite3.Error: the job failed in the thread.
        """
        waiter: Waiter[Any] = Waiter()
        self._waiting += 1
        self._wakeup.ref = True
        self._inbox.put((kind, payload, waiter))
        ok, value = waiter.get()
        if not ok:
            raise value
        return value

    def abandon(self) -> None:
        """Ask the thread to close its connection and end, without waiting."""
        self._inbox.put(("close", None, None))

    def stop(self) -> None:
        """Release the async watcher, once the thread has answered ``close``."""
        self._wakeup.stop()
        self._wakeup.close()

    def _deliver(self) -> None:
        # Runs in the hub as the async watcher's callback: must not block or
        # raise. Waiter.switch resumes each waiting greenlet in turn.
        while self._outbox:
            waiter, answer = self._outbox.popleft()
            if waiter is None:
                continue
            self._waiting -= 1
            if not self._waiting:
                self._wakeup.ref = False
            waiter.switch(answer)

    def _run(self) -> None:
        # The thread's body: everything here may block on the disk or on
        # SQLite's busy handler without stalling the hub.
        running = True
        while running:
            jobs = [self._inbox.get()]
            while len(jobs) < _GROUP_LIMIT:
                try:
                    jobs.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            answers, running = self._handle(jobs)
            self._outbox.extend(answers)
            self._wakeup.send()

    def _handle(self, jobs: list[tuple[str, Any, Any]]) -> tuple[list[Any], bool]:
        answers: list[Any] = []
        writes: list[tuple[str, Any, Any]] = []
        for job in jobs + [("end", None, None)]:
            if job[0] == "write":
                writes.append(job)
                continue
            if writes:
                answers.extend(self._write_group(writes))
                writes = []
            if job[0] == "open":
                answers.append((job[2], self._open(*job[1])))
            elif job[0] == "close":
                answers.append((job[2], self._close()))
                return answers, False
        return answers, True

    def _write_group(self, jobs: list[tuple[str, Any, Any]]) -> list[Any]:
        try:
            assert self._conn is not None, "opened before the first write"
            changed = _apply(self._conn, [job[1] for job in jobs])
        except Exception as exc:
            if len(jobs) == 1 or (isinstance(exc, sqlite3.Error) and _is_busy(exc)):
                return [(job[2], (False, exc)) for job in jobs]
            # One job's changes may be what failed: retry each on its own, so
            # that only that job's caller gets the error.
            return [answer for job in jobs for answer in self._write_group([job])]
        return [(job[2], (True, n)) for job, n in zip(jobs, changed, strict=True)]

    def _open(self, path: str, synchronous: str, timeout: float) -> tuple[bool, Any]:
        try:
            conn = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        except Exception as exc:
            return False, exc
        self._conn = conn
        return True, None

    def _close(self) -> tuple[bool, Any]:
        # As the last connection of this OS process to close, this one
        # checkpoints the log into the database and removes it.
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                conn.close()
        except Exception as exc:
            return False, exc
        return True, None


_WHY = {
    8: "the file or its directory is read-only",
    10: "the disk reported an I/O error",
    11: "the database file is corrupt",
    13: "the disk is full",
    14: "the file cannot be opened or created",
    26: "the file is not an SQLite database",
}


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None) or 0
    return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


def _fetch(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def _apply(conn: sqlite3.Connection, groups: list[list[Op]]) -> list[int]:
    """Apply groups of changes in one transaction; return the rows each changed.

    Runs in the worker thread. The transaction is rolled back on any error, so
    a failed group writes nothing.
    """
    if len(groups) == 1 and len(groups[0]) == 1:
        # One statement is its own transaction: the same guarantee, less work.
        before = conn.total_changes
        _execute(conn, groups[0][0])
        return [conn.total_changes - before]

    conn.execute("BEGIN IMMEDIATE")
    try:
        changed = []
        for ops in groups:
            before = conn.total_changes
            for op in ops:
                _execute(conn, op)
            changed.append(conn.total_changes - before)
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    return changed


def _execute(conn: sqlite3.Connection, op: Op) -> None:
    if op[0] == "put":
        conn.execute(_SQL_PUT, (op[1], op[2]))
    elif op[0] == "delete":
        conn.execute(_SQL_DELETE, (op[1],))
    else:
        conn.execute(_SQL_CLEAR)

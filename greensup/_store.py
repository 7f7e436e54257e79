"""A key-value store with one API and two backends: a dict, or an SQLite file.

``Store(name)`` keeps its data in memory; ``Store(name, path)`` keeps it in an
SQLite database in WAL mode, as one table of keys and JSON text that a person can
read with the ``sqlite3`` command-line tool::

    sqlite3 jobs.db "SELECT key, typeof(key), value FROM store"

Keys are ``str`` or ``int`` (a 64-bit signed integer), and ``1`` and ``'1'`` are
two different keys: the column has no type affinity, so SQLite keeps each key's
type. Values are anything JSON can hold, and read back exactly as written, with
two documented conversions: tuples come back as lists, and instances of
subclasses of ``str``, ``int``, ``float``, ``list`` and ``dict`` (enums, for
example) come back as the base type. Both backends copy values on the way in and
on the way out, as OTP's ETS does, so mutating a value after ``put`` or after
``get`` never changes what the store holds.

Durability: SQLite in WAL mode with ``synchronous=NORMAL`` (the default) has
handed each commit to the operating system before the call returns, so the
commit survives the OS process being killed, SIGKILL included; only an
operating-system crash or a power loss can take back the last commits.
``synchronous='full'`` also syncs the log at every commit, which survives those
too. Every write is one SQLite transaction, so a batch lands whole or not at all.

Where the durable store does its work: writes, with their syncs and WAL
checkpoints, run in one worker thread per store, so a slow disk never freezes
the hub; the calling greenlet waits without blocking other greenlets, and writes
that queue up while the thread is busy are committed together in one
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
import math
import os
import queue
import sqlite3
import time
import weakref
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Literal

import gevent
from gevent.hub import Waiter
from gevent.monkey import get_original

from greensup._errors import GreensupError
from greensup._types import short_repr

__all__ = ["Store", "StoreError", "Transaction"]

_log = logging.getLogger("greensup.store")

Key = str | int
Synchronous = Literal["normal", "full"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
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

# One change in a batch: ("put", key, prepared value), ("delete", key) or
# ("clear",). The prepared value is a plain copy in memory and JSON text on disk.
_Op = tuple[Any, ...]


class StoreError(GreensupError):
    """A store's file cannot be opened, read or written, or the store is closed.

    The message names the store and its file; the SQLite error, if any, is
    chained as ``__cause__``.
    """


class _Invalid(Exception):
    """A value JSON cannot hold; collects the path to it while unwinding."""

    def __init__(self, error: type[Exception], what: str) -> None:
        super().__init__(what)
        self.error = error
        self.what = what
        self.path: list[str] = []


def _plain(value: Any) -> Any:
    """Return a copy of ``value`` made only of JSON types, or raise ``_Invalid``."""
    kind = type(value)
    if kind is str:
        if not value.isascii():
            _check_text(value)
        return value
    if kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        raise _Invalid(ValueError, f"{value!r}, which JSON cannot represent")
    if kind is dict:
        return _plain_dict(value)
    if kind is list or kind is tuple:
        return _plain_list(value)
    return _plain_subclass(value)


def _plain_dict(value: Mapping[Any, Any]) -> dict[str, Any]:
    copy = {}
    for key, item in value.items():
        if type(key) is not str:
            raise _Invalid(TypeError, f"dict key {short_repr(key, 30)}, not a str")
        if not key.isascii():
            _check_text(key)
        kind = type(item)
        if kind is int or item is None or (kind is str and item.isascii()):
            copy[key] = item  # the common leaves, without a call
            continue
        try:
            copy[key] = _plain(item)
        except _Invalid as exc:
            exc.path.append(f"[{key!r}]")
            raise
    return copy


def _plain_list(value: list[Any] | tuple[Any, ...]) -> list[Any]:
    copy = []
    for index, item in enumerate(value):
        kind = type(item)
        if kind is int or item is None or (kind is str and item.isascii()):
            copy.append(item)
            continue
        try:
            copy.append(_plain(item))
        except _Invalid as exc:
            exc.path.append(f"[{index}]")
            raise
    return copy


def _plain_subclass(value: Any) -> Any:
    # Enums and other subclasses of the JSON types are stored as the base type,
    # which is also what json.dumps would write for them.
    if isinstance(value, bool):
        return bool(value)
    for base in (str, int, float):
        if isinstance(value, base):
            return _plain(base(value))
    if isinstance(value, dict):
        return _plain_dict(value)
    if isinstance(value, (list, tuple)):
        return _plain_list(value)
    raise _Invalid(TypeError, f"{type(value).__name__} {short_repr(value, 30)}")


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid(ValueError, "a str with a lone surrogate") from None


def _clone(value: Any) -> Any:
    """Copy a plain JSON value; strings and numbers are shared, being immutable."""
    kind = type(value)
    if kind is dict:
        return {
            k: v if type(v) not in _CONTAINERS else _clone(v) for k, v in value.items()
        }
    if kind is list:
        return [v if type(v) not in _CONTAINERS else _clone(v) for v in value]
    return value


class Store:
    """A key-value store: in memory when ``path`` is None, else an SQLite file.

    Keys are ``str`` or ``int``; values are anything JSON can hold (see the
    module documentation for the two conversions: tuples to lists, subclasses to
    their base type). ``NaN`` and the infinities are refused with ``ValueError``:
    JSON has no spelling for them and they would not compare equal on the way back.

    The in-memory store never blocks. On a durable store, writes block the
    calling greenlet (never the hub) until the worker thread has committed them,
    and reads switch greenlets only while another OS process holds a lock. Each
    call's effect is all-or-nothing. Any number of greenlets may use one store at
    once. Opening a durable store reads and, for a new file, sets up the file
    inline, then switches greenlets while the worker thread connects. Use a
    store as a context manager to close it.

    Args:
        name: a label for reprs, errors and logs.
        path: the SQLite file to open or create; None keeps the data in memory.
        synchronous: for a durable store, ``'normal'`` (the default) makes every
            completed call survive the OS process being killed, SIGKILL included;
            ``'full'`` also makes it survive a power loss or an operating-system
            crash, at the price of an ``fsync`` per commit. Ignored in memory.
        timeout: seconds to wait for a lock held by another connection before
            raising ``StoreError``.

    Raises:
        StoreError: the file cannot be opened or created (its directory is
            missing or not writable), is not an SQLite database, is corrupt, or
            belongs to another application.
        ValueError: ``synchronous`` or ``timeout`` has an invalid value.
        TypeError: ``name`` is not a ``str``, or ``path`` is not a path.

    Attributes:
        name: the store's label.
        path: the absolute path of the file, or None in memory.

    OTP: a named ``ets`` table (in memory) or ``dets`` table (durable).

    Differences from OTP:
        Keys are ``str`` or ``int`` and values are JSON, not any term; there
        are no ``bag`` or ``ordered_set`` tables, and :meth:`select` takes a
        Python predicate instead of a match specification.

    Limitations:
        A store belongs to the OS thread (and gevent hub) that opened it;
        writing to a durable store from another thread raises ``StoreError``.
        Values are copied, so very large values cost their size on every
        ``put`` and ``get``. ``keys()``, ``values()``, ``items()`` and
        ``select()`` read the whole table inline; a multi-gigabyte store would
        hold up the hub while they run.
    """

    name: str
    path: str | None

    def __new__(
        cls,
        name: str,
        path: str | os.PathLike[str] | None = None,
        *,
        synchronous: Synchronous = "normal",
        timeout: float = 30.0,
    ) -> Store:
        if cls is Store:
            cls = _MemoryStore if path is None else _SqliteStore
        return super().__new__(cls)

    def _set_identity(self, name: str, path: str | None) -> None:
        if not isinstance(name, str):
            raise TypeError(f"store name must be a str, got {short_repr(name)}")
        self.name = name
        self.path = path

    def put(self, key: Key, value: Any) -> None:
        """Store ``value`` under ``key``, replacing any value it had.

        Never blocks in memory. On a durable store, blocks the calling greenlet
        until the value is committed; it then survives the OS process being
        killed. A put whose greenlet is killed while it waits (by a timeout, for
        example) may still land.

        Raises:
            TypeError: ``key`` is not a ``str`` or an ``int``, or ``value`` holds
                something JSON cannot (the message names the key and where).
            ValueError: an ``int`` key outside 64 bits, a NaN or infinite float,
                or a ``str`` with a lone surrogate.
            StoreError: the store is closed or its file cannot be written.
        """
        raise NotImplementedError

    def get(self, key: Key, default: Any = None) -> Any:
        """Return a copy of the value under ``key``, or ``default`` if none.

        Never blocks in memory; on a durable store, may switch greenlets only
        while another OS process holds a lock.

        Raises:
            TypeError: ``key`` is not a ``str`` or an ``int``.
            StoreError: the store is closed or its file cannot be read.
        """
        raise NotImplementedError

    def delete(self, key: Key) -> bool:
        """Remove ``key``; return whether it was there. Blocks like :meth:`put`."""
        raise NotImplementedError

    def clear(self) -> None:
        """Remove every key, atomically. Blocks like :meth:`put`."""
        raise NotImplementedError

    def keys(self) -> list[Key]:
        """Return a snapshot list of the keys, in no particular order.

        The order differs between the backends (insertion order in memory, key
        order on disk): do not rely on it. Blocks like :meth:`get`.
        """
        raise NotImplementedError

    def values(self) -> list[Any]:
        """Return a snapshot list of copies of the values. Blocks like :meth:`get`."""
        raise NotImplementedError

    def items(self) -> list[tuple[Key, Any]]:
        """Return a snapshot list of ``(key, value)`` pairs. Blocks like :meth:`get`."""
        raise NotImplementedError

    def select(self, predicate: Callable[[Key, Any], object]) -> list[tuple[Key, Any]]:
        """Return the ``(key, value)`` pairs for which ``predicate(key, value)`` is
        true, from one snapshot.

        The predicate runs in the calling greenlet, on copies, after the snapshot
        is taken; what it raises propagates. Blocks like :meth:`get`.
        """
        return [(k, v) for k, v in self.items() if predicate(k, v)]

    def update(self, mapping: Mapping[Key, Any]) -> None:
        """Put every pair of ``mapping`` atomically: all of them land or none.

        Every key and value is checked first; an error names the offending key
        and nothing is written. Blocks like :meth:`put`.
        """
        with self.transaction() as batch:
            batch.update(mapping)

    def transaction(self) -> Transaction:
        """Return a :class:`Transaction` that commits its changes on a clean exit.

        ::

            with store.transaction() as batch:
                batch.delete(f"pending:{job_id}")
                batch.put(f"dead:{job_id}", job)

        Never blocks; the ``with`` block's exit blocks like :meth:`put`.
        """
        return Transaction(self)

    def close(self) -> None:
        """Close the store; later calls raise ``StoreError``. Idempotent.

        An in-memory store drops its data and never blocks. A durable store
        blocks the calling greenlet while the writes already queued land and
        the worker thread checkpoints the log into the database file.
        """
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        raise NotImplementedError

    def __contains__(self, key: object) -> bool:
        """Tell whether ``key`` has a value. Blocks like :meth:`get`."""
        raise NotImplementedError

    def __len__(self) -> int:
        """Return the number of keys. Blocks like :meth:`get`."""
        raise NotImplementedError

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "in memory" if self.path is None else f"at {short_repr(self.path)}"
        state = " closed" if self.closed else ""
        return f"<Store {short_repr(self.name, 30)} {where}{state}>"

    # Shared by both backends.

    def _closed_error(self) -> StoreError:
        return StoreError(f"store {self.name!r} is closed")

    def _check_key(self, key: object) -> None:
        kind = type(key)
        if kind is int:
            if not _INT64_MIN <= key <= _INT64_MAX:  # type: ignore[operator]
                raise ValueError(
                    f"store {self.name!r}: int key {short_repr(key)} "
                    "does not fit in 64 bits"
                )
        elif kind is str:
            try:
                key.encode("utf-8")  # type: ignore[attr-defined]
            except UnicodeEncodeError:
                raise ValueError(
                    f"store {self.name!r}: key {short_repr(key)} has a lone surrogate"
                ) from None
        else:
            raise TypeError(
                f"store {self.name!r}: key must be a str or an int, "
                f"got {kind.__name__} {short_repr(key)}"
            )

    def _plain_value(self, key: Key, value: Any) -> Any:
        try:
            return _plain(value)
        except _Invalid as exc:
            where = "".join(reversed(exc.path))
            at = f" at {where}" if where else ""
            if exc.error is TypeError:
                why = f"is not JSON-serialisable: {exc.what}{at}"
            else:
                why = f"holds {exc.what}{at}"
            message = f"store {self.name!r}: value for key {short_repr(key)} {why}"
            raise exc.error(message) from None
        except RecursionError:
            raise ValueError(
                f"store {self.name!r}: value for key {short_repr(key)} "
                "is nested too deeply or refers to itself"
            ) from None

    def _prepare(self, key: Key, value: Any) -> Any:
        """Check ``value`` and return the form the backend stores."""
        raise NotImplementedError

    def _commit(self, ops: list[_Op]) -> int:
        """Apply ``ops`` atomically; return the number of rows changed."""
        raise NotImplementedError


class Transaction:
    """A batch of changes to one store that lands whole or not at all.

    Made by :meth:`Store.transaction`. Changes are checked when they are added
    and kept aside until the ``with`` block ends without an exception; then they
    are committed together (on a durable store, atomically also across a SIGKILL).
    If the block raises, nothing is written. Reads inside the block see the
    store, not the pending changes, and take no lock: two transactions that
    write the same key are applied in the order they commit.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._ops: list[_Op] = []
        self._done = False

    def put(self, key: Key, value: Any) -> None:
        """Add a put of ``value`` under ``key``; raises as :meth:`Store.put` does.

        Never blocks.
        """
        self._check_open()
        self._store._check_key(key)
        self._ops.append(("put", key, self._store._prepare(key, value)))

    def delete(self, key: Key) -> None:
        """Add a removal of ``key`` (nothing happens if it is absent). Never blocks."""
        self._check_open()
        self._store._check_key(key)
        self._ops.append(("delete", key))

    def update(self, mapping: Mapping[Key, Any]) -> None:
        """Add a put for every pair of ``mapping``. Never blocks.

        Raises:
            TypeError: ``mapping`` is not a mapping, or as for :meth:`put`.
        """
        if not isinstance(mapping, Mapping):
            raise TypeError(
                f"store {self._store.name!r}: update takes a mapping, "
                f"got {type(mapping).__name__}"
            )
        for key, value in mapping.items():
            self.put(key, value)

    def __len__(self) -> int:
        return len(self._ops)

    def __enter__(self) -> Transaction:
        self._check_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        ops, self._ops, self._done = self._ops, [], True
        if exc_type is None and ops:
            self._store._commit(ops)

    def __repr__(self) -> str:
        return f"<Transaction on {self._store!r} with {len(self._ops)} changes>"

    def _check_open(self) -> None:
        if self._done:
            raise StoreError(
                f"store {self._store.name!r}: transaction has already ended"
            )


class _MemoryStore(Store):
    """The in-memory backend: a dict of plain JSON values, copied in and out.

    Nothing here switches greenlets, so no lock is needed: gevent never
    preempts a greenlet between two Python statements.
    """

    def __init__(self, name: str, path: None = None, **kwargs: Any) -> None:
        _check_options(**kwargs)
        self._set_identity(name, None)
        self._data: dict[Key, Any] | None = {}

    def put(self, key: Key, value: Any) -> None:
        if type(key) is not str or not key.isascii():
            self._check_key(key)
        kind = type(value)
        if kind is not int and (kind is not str or not value.isascii()):
            value = self._plain_value(key, value)
        try:
            self._data[key] = value  # type: ignore[index]
        except TypeError:
            raise self._closed_error() from None

    def get(self, key: Key, default: Any = None) -> Any:
        if type(key) not in _KEY_TYPES:
            self._check_key(key)
        try:
            value = self._data[key]  # type: ignore[index]
        except KeyError:
            return default
        except TypeError:
            raise self._closed_error() from None
        if type(value) in _CONTAINERS:
            return _clone(value)
        return value

    def delete(self, key: Key) -> bool:
        data = self._live()
        self._check_key(key)
        return data.pop(key, _MISSING) is not _MISSING

    def clear(self) -> None:
        self._live().clear()

    def keys(self) -> list[Key]:
        return list(self._live())

    def values(self) -> list[Any]:
        return [_clone(v) for v in self._live().values()]

    def items(self) -> list[tuple[Key, Any]]:
        return [(k, _clone(v)) for k, v in self._live().items()]

    def close(self) -> None:
        self._data = None

    @property
    def closed(self) -> bool:
        return self._data is None

    def __contains__(self, key: object) -> bool:
        data = self._live()
        self._check_key(key)
        return key in data

    def __len__(self) -> int:
        return len(self._live())

    def _live(self) -> dict[Key, Any]:
        if self._data is None:
            raise self._closed_error()
        return self._data

    def _prepare(self, key: Key, value: Any) -> Any:
        return self._plain_value(key, value)

    def _commit(self, ops: list[_Op]) -> int:
        data = self._live()
        for op in ops:
            if op[0] == "put":
                data[op[1]] = op[2]
            else:
                data.pop(op[1], None)
        return len(ops)


_MISSING: Any = object()
_KEY_TYPES = frozenset((str, int))
_CONTAINERS = frozenset((dict, list))


def _check_options(synchronous: str = "normal", timeout: float = 30.0) -> None:
    if synchronous not in ("normal", "full"):
        raise ValueError(
            f"synchronous must be 'normal' or 'full', got {short_repr(synchronous)}"
        )
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ValueError(f"timeout must be seconds, got {short_repr(timeout)}")
    if not timeout >= 0:
        raise ValueError(f"timeout must not be negative, got {timeout}")


_ENCODE = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")
).encode
_SimpleQueue = get_original("queue", "SimpleQueue")
_start_new_thread = get_original("_thread", "start_new_thread")


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


class _SqliteStore(Store):
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
        _check_options(synchronous, timeout)
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
        if type(key) is not str:
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

    def _commit(self, ops: list[_Op]) -> int:
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


_SQL_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"
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


def _apply(conn: sqlite3.Connection, groups: list[list[_Op]]) -> list[int]:
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


def _execute(conn: sqlite3.Connection, op: _Op) -> None:
    if op[0] == "put":
        conn.execute(_SQL_PUT, (op[1], op[2]))
    elif op[0] == "delete":
        conn.execute(_SQL_DELETE, (op[1],))
    else:
        conn.execute(_SQL_CLEAR)

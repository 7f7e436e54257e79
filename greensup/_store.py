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
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal

from greensup._errors import GreensupError
from greensup._store_values import CONTAINERS, Invalid, clone, plain
from greensup._types import short_repr

__all__ = [
    "Key",
    "Op",
    "Store",
    "StoreError",
    "Synchronous",
    "Transaction",
    "check_options",
]

Key = str | int
Synchronous = Literal["normal", "full"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


# One change in a batch: ("put", key, prepared value), ("delete", key) or
# ("clear",). The prepared value is a plain copy in memory and JSON text on disk.
Op = tuple[Any, ...]


class StoreError(GreensupError):
    """A store's file cannot be opened, read or written, or the store is closed.

    The message names the store and its file; the SQLite error, if any, is
    chained as ``__cause__``.
    """


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
            if path is None:
                cls = _MemoryStore
            else:
                # Imported lazily: _store_sqlite imports Store from this module.
                from greensup._store_sqlite import SqliteStore

                cls = SqliteStore
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

    def __iter__(self) -> Iterator[Key]:
        """Iterate over a snapshot of the keys, as :meth:`keys` returns them."""
        return iter(self.keys())

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
            return plain(value)
        except Invalid as exc:
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

    def _commit(self, ops: list[Op]) -> int:
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
        self._ops: list[Op] = []
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
        check_options(**kwargs)
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
        if type(key) is not str or not key.isascii():
            self._check_key(key)
        try:
            value = self._data[key]  # type: ignore[index]
        except KeyError:
            return default
        except TypeError:
            raise self._closed_error() from None
        if type(value) in CONTAINERS:
            return clone(value)
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
        return [clone(v) for v in self._live().values()]

    def items(self) -> list[tuple[Key, Any]]:
        return [(k, clone(v)) for k, v in self._live().items()]

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

    def _commit(self, ops: list[Op]) -> int:
        data = self._live()
        for op in ops:
            if op[0] == "put":
                data[op[1]] = op[2]
            else:
                data.pop(op[1], None)
        return len(ops)


_MISSING: Any = object()


def check_options(synchronous: str = "normal", timeout: float = 30.0) -> None:
    if synchronous not in ("normal", "full"):
        raise ValueError(
            f"synchronous must be 'normal' or 'full', got {short_repr(synchronous)}"
        )
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ValueError(f"timeout must be seconds, got {short_repr(timeout)}")
    if not timeout >= 0:
        raise ValueError(f"timeout must not be negative, got {timeout}")

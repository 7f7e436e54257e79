"""Measure the Store against a plain dict and plain ``sqlite3`` doing the same work.

Usage::

    python benchmarks/bench_store.py           # full sizes, a minute or two
    python benchmarks/bench_store.py --quick   # small sizes, about two seconds

Four tables are printed:

- puts and gets per second, in-memory Store beside a dict (target: within 3x);
- puts and gets per second, durable Store beside plain ``sqlite3`` on the same
  schema, in WAL mode at the same ``synchronous`` setting, one committed
  transaction per put (target: within 1.5x);
- puts per second from 100 greenlets at once, where the Store commits the
  writes that queue up together;
- the longest stall of the gevent hub while one greenlet puts 1 KB values and
  yields after each: a ticker greenlet sleeps 1 ms at a time and records how
  late it wakes. The first row, which touches no disk, is the floor that
  gevent's own scheduling leaves.

Rates are the best of a few rounds, to keep other load on the machine out.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import gevent
from gevent.threadpool import ThreadPool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import greensup  # noqa: E402

__all__ = ["main"]

SIZES = {"memory": 200_000, "durable": 10_000, "crowd": 3_000, "stall": 600}
QUICK_SIZES = {"memory": 20_000, "durable": 1_000, "crowd": 300, "stall": 200}
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS store (key PRIMARY KEY NOT NULL, value TEXT NOT NULL)"
    " WITHOUT ROWID"
)
SQL_PUT = "INSERT OR REPLACE INTO store VALUES (?, ?)"
SQL_GET = "SELECT value FROM store WHERE key = ?"
SMALL_RECORD = {"id": "job-1", "status": "queued", "attempts": 0, "due_at": None}
BIG_RECORD = {"payload": "x" * 1000}

Row = tuple[str, float, float]


def best_rate(run: Callable[[], int], rounds: int) -> float:
    """Run ``run`` ``rounds`` times; return the best operations per second."""
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        count = run()
        best = max(best, count / (time.perf_counter() - started))
    return best


def open_store(path: str | None, synchronous: Any = "normal") -> greensup.Store:
    if path is None:
        return greensup.Store("bench")
    return greensup.Store("bench", path, synchronous=synchronous)


def open_plain(path: str, synchronous: str) -> sqlite3.Connection:
    """Open plain sqlite3 as the Store opens its file: WAL, same schema."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(SCHEMA)
    return conn


# The loops being timed; each returns how many operations it did.


def dict_puts(data: dict[str, Any], keys: list[str], value: Any) -> int:
    for key in keys:
        data[key] = value
    return len(keys)


def dict_gets(data: dict[str, Any], keys: list[str]) -> int:
    get = data.get
    for key in keys:
        get(key)
    return len(keys)


def store_puts(store: greensup.Store, keys: list[str], value: Any) -> int:
    put = store.put
    for key in keys:
        put(key, value)
    return len(keys)


def store_gets(store: greensup.Store, keys: list[str]) -> int:
    get = store.get
    for key in keys:
        get(key)
    return len(keys)


def plain_puts(conn: sqlite3.Connection, keys: list[str], value: Any) -> int:
    for key in keys:
        conn.execute(SQL_PUT, (key, json.dumps(value)))
    return len(keys)


def plain_gets(conn: sqlite3.Connection, keys: list[str]) -> int:
    for key in keys:
        json.loads(conn.execute(SQL_GET, (key,)).fetchone()[0])
    return len(keys)


def crowd_puts(store: greensup.Store, keys: list[str], value: Any) -> int:
    def writer(first: int) -> None:
        for key in keys[first::100]:
            store.put(key, value)

    gevent.joinall([gevent.spawn(writer, first) for first in range(100)])
    return len(keys)


# The tables.


def memory_rows(n: int, rounds: int) -> Iterator[Row]:
    """Yield (label, dict rate, Store rate) for the in-memory backend."""
    keys = [f"job:{i}" for i in range(n)]
    for kind, value in (("int value", 12345), ("small dict value", SMALL_RECORD)):
        data: dict[str, Any] = {}
        store = open_store(None)
        yield (
            f"put, {kind}",
            best_rate(partial(dict_puts, data, keys, value), rounds),
            best_rate(partial(store_puts, store, keys, value), rounds),
        )
        yield (
            f"get, {kind}",
            best_rate(partial(dict_gets, data, keys), rounds),
            best_rate(partial(store_gets, store, keys), rounds),
        )
        store.close()


def durable_rows(workdir: str, n: int, rounds: int, synchronous: str) -> Iterator[Row]:
    """Yield (label, plain sqlite3 rate, Store rate) at one durability setting."""
    keys = [f"job:{i}" for i in range(n)]
    conn = open_plain(os.path.join(workdir, f"plain-{synchronous}.db"), synchronous)
    store = open_store(os.path.join(workdir, f"store-{synchronous}.db"), synchronous)
    label = f"synchronous={synchronous}"
    yield (
        f"put, {label}",
        best_rate(partial(plain_puts, conn, keys, SMALL_RECORD), rounds),
        best_rate(partial(store_puts, store, keys, SMALL_RECORD), rounds),
    )
    yield (
        f"get, {label}",
        best_rate(partial(plain_gets, conn, keys), rounds),
        best_rate(partial(store_gets, store, keys), rounds),
    )
    store.close()
    conn.close()


def crowd_rows(workdir: str, n: int) -> Iterator[Row]:
    """Yield (label, plain sqlite3 rate, Store rate) with 100 greenlets writing."""
    keys = [f"job:{i}" for i in range(n)]
    for synchronous in ("normal", "full"):
        conn = open_plain(
            os.path.join(workdir, f"crowd-p-{synchronous}.db"), synchronous
        )
        store = open_store(
            os.path.join(workdir, f"crowd-{synchronous}.db"), synchronous
        )
        yield (
            f"put from 100 greenlets, synchronous={synchronous}",
            best_rate(partial(plain_puts, conn, keys, SMALL_RECORD), 1),
            best_rate(partial(crowd_puts, store, keys, SMALL_RECORD), 1),
        )
        store.close()
        conn.close()


def longest_stall(put: Callable[[int], object], n: int) -> tuple[float, float]:
    """Return the hub's longest stall and the puts per second while a greenlet
    calls ``put(i)`` for ``i`` in ``range(n)``, yielding after each call."""
    worst = 0.0
    running = True

    def tick() -> None:
        nonlocal worst
        while running:
            asked = time.perf_counter()
            gevent.sleep(0.001)
            worst = max(worst, time.perf_counter() - asked - 0.001)

    ticker = gevent.spawn(tick)
    gevent.sleep(0.01)
    started = time.perf_counter()
    for i in range(n):
        put(i)
        gevent.sleep(0)
    rate = n / (time.perf_counter() - started)
    running = False
    ticker.join()
    return worst, rate


def stall_row(label: str, put: Callable[[int], object], n: int, rounds: int) -> Row:
    """Return (label, median of the rounds' longest stall in s, best puts/s)."""
    results = [longest_stall(put, n) for _ in range(rounds)]
    stalls = sorted(stall for stall, _ in results)
    return label, stalls[len(stalls) // 2], max(rate for _, rate in results)


def plain_put(conn: sqlite3.Connection, i: int) -> None:
    conn.execute(SQL_PUT, (f"job:{i % 500}", json.dumps(BIG_RECORD)))


def pooled_put(pool: ThreadPool, conn: sqlite3.Connection, i: int) -> None:
    pool.apply(plain_put, (conn, i))


def store_put(store: greensup.Store, i: int) -> None:
    store.put(f"job:{i % 500}", BIG_RECORD)


def busy_wait(i: int) -> None:
    """Hold the hub for 50 us, about what a put costs, touching no disk."""
    until = time.perf_counter() + 0.00005
    while time.perf_counter() < until:
        pass


def stall_rows(workdir: str, n: int, rounds: int) -> Iterator[Row]:
    yield stall_row("no disk, 50 us of CPU per put (the floor)", busy_wait, n, rounds)
    for synchronous in ("normal", "full"):
        conn = open_plain(
            os.path.join(workdir, f"stall-p-{synchronous}.db"), synchronous
        )
        store = open_store(
            os.path.join(workdir, f"stall-{synchronous}.db"), synchronous
        )
        pool = ThreadPool(1)

        ways: list[tuple[str, Callable[[int], object]]] = [
            ("plain sqlite3 on the hub", partial(plain_put, conn)),
            ("plain sqlite3 in gevent's threadpool", partial(pooled_put, pool, conn)),
            ("Store", partial(store_put, store)),
        ]
        for name, put in ways:
            yield stall_row(f"{name}, synchronous={synchronous}", put, n, rounds)
        store.close()
        conn.close()
        pool.kill()


def durable_size(sizes: dict[str, int], synchronous: str) -> int:
    """Fewer puts under 'full': each one waits for the disk."""
    return sizes["durable"] // (5 if synchronous == "full" else 1)


def print_ratios(title: str, peer: str, rows: Iterator[Row], target: float) -> None:
    print(f"\n{title}")
    print(f"  {'operation':44} {peer:>14} {'Store':>12} {'ratio':>7}")
    for label, peer_rate, store_rate in rows:
        ratio = peer_rate / store_rate
        verdict = "ok" if ratio <= target else f"over {target}x"
        print(
            f"  {label:44} {peer_rate:>12,.0f}/s {store_rate:>10,.0f}/s "
            f"{ratio:>6.2f}x  {verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (~2 s)")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    rounds = 2 if args.quick else 5
    stall_rounds = 1 if args.quick else 3

    print(
        f"Store benchmark: python {sys.version.split()[0]}, sqlite "
        f"{sqlite3.sqlite_version}, gevent {gevent.__version__}, {os.cpu_count()} CPUs"
    )
    print_ratios(
        "in memory: Store vs dict (target: within 3x)",
        "dict",
        memory_rows(sizes["memory"], rounds),
        3.0,
    )
    with tempfile.TemporaryDirectory(prefix="bench_store-") as workdir:
        for synchronous in ("normal",) if args.quick else ("normal", "full"):
            print_ratios(
                f"durable, WAL, synchronous={synchronous}: Store vs plain sqlite3 "
                "(target: within 1.5x)",
                "sqlite3",
                durable_rows(
                    workdir, durable_size(sizes, synchronous), rounds, synchronous
                ),
                1.5,
            )
        print_ratios(
            "durable, 100 greenlets writing at once: Store vs plain sqlite3 in a loop",
            "sqlite3",
            crowd_rows(workdir, sizes["crowd"]),
            1.5,
        )
        print(
            "\nlongest hub stall while one greenlet puts 1 KB values, yielding "
            f"after each (median of {stall_rounds} rounds)"
        )
        print(f"  {'writer':52} {'stall':>9} {'puts':>12}")
        for label, stall, rate in stall_rows(workdir, sizes["stall"], stall_rounds):
            print(f"  {label:52} {stall * 1000:>7.2f}ms {rate:>10,.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
  gevent's scheduling and the rest of the machine leave. The last column says
  how much of the lateness the hub's thread spent in the writer's code (the
  rest it spent in gevent's loop, waiting for the OS to run it).

Rates are the best of a few rounds, the two sides taking turns so that both meet
the same load from the rest of the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import gevent
from gevent.hub import Hub
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
HUB_RUN = getattr(Hub.run, "__code__", None)


def best_rates(
    peer: Callable[[], int], store: Callable[[], int], rounds: int
) -> tuple[float, float]:
    """Run ``peer`` and ``store`` in turns, ``rounds`` times each, so that both
    meet the same load; return the best operations per second of each."""
    best = [0.0, 0.0]
    for _ in range(rounds):
        for index, run in enumerate((peer, store)):
            started = time.perf_counter()
            count = run()
            best[index] = max(best[index], count / (time.perf_counter() - started))
    return best[0], best[1]


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
            *best_rates(
                partial(dict_puts, data, keys, value),
                partial(store_puts, store, keys, value),
                rounds,
            ),
        )
        yield (
            f"get, {kind}",
            *best_rates(
                partial(dict_gets, data, keys),
                partial(store_gets, store, keys),
                rounds,
            ),
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
        *best_rates(
            partial(plain_puts, conn, keys, SMALL_RECORD),
            partial(store_puts, store, keys, SMALL_RECORD),
            rounds,
        ),
    )
    yield (
        f"get, {label}",
        *best_rates(
            partial(plain_gets, conn, keys),
            partial(store_gets, store, keys),
            rounds,
        ),
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
            *best_rates(
                partial(plain_puts, conn, keys, SMALL_RECORD),
                partial(crowd_puts, store, keys, SMALL_RECORD),
                1,
            ),
        )
        store.close()
        conn.close()


class Stall(NamedTuple):
    label: str
    longest: float  # seconds the ticker woke late, at worst
    rate: float  # puts per second
    blamed: float  # share of the late moments the hub spent outside its loop


def longest_stall(put: Callable[[int], object], n: int) -> tuple[float, float, float]:
    """Time ``n`` calls of ``put(i)`` by a greenlet that yields after each.

    Returns the hub's longest stall, the puts per second, and the share of the
    moments when the ticker was late that the hub's thread spent in Python code
    (the writer's) rather than in gevent's loop: a native thread samples the
    hub thread's stack every millisecond. On a loaded machine the loop itself
    is sometimes late, for no fault of the writer's.
    """
    worst = 0.0
    last_tick = time.perf_counter()
    running = True
    samples = [0, 0]  # late, late while outside the loop
    hub_thread = threading.get_ident()

    def tick() -> None:
        nonlocal worst, last_tick
        while running:
            asked = time.perf_counter()
            gevent.sleep(0.001)
            last_tick = time.perf_counter()
            worst = max(worst, last_tick - asked - 0.001)

    def watch() -> None:
        while running:
            time.sleep(0.001)
            if time.perf_counter() - last_tick > 0.003:
                frame = sys._current_frames().get(hub_thread)
                samples[0] += 1
                samples[1] += frame is not None and frame.f_code is not HUB_RUN

    ticker = gevent.spawn(tick)
    gevent.sleep(0.01)
    watchdog = threading.Thread(target=watch, daemon=True)
    watchdog.start()
    started = time.perf_counter()
    for i in range(n):
        put(i)
        gevent.sleep(0)
    rate = n / (time.perf_counter() - started)
    running = False
    ticker.join()
    watchdog.join()
    return worst, rate, samples[1] / max(samples[0], 1)


def stall_row(label: str, put: Callable[[int], object], n: int, rounds: int) -> Stall:
    """Return the median of the rounds' longest stalls, the best rate, and the
    share of late moments spent in the writer's code over all rounds."""
    results = [longest_stall(put, n) for _ in range(rounds)]
    stalls = sorted(result[0] for result in results)
    return Stall(
        label,
        stalls[len(stalls) // 2],
        max(result[1] for result in results),
        sum(result[2] for result in results) / rounds,
    )


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


def stall_rows(workdir: str, n: int, rounds: int) -> Iterator[Stall]:
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
        print(f"  {'writer':52} {'stall':>9} {'puts':>12} {'in writer':>10}")
        for row in stall_rows(workdir, sizes["stall"], stall_rounds):
            print(
                f"  {row.label:52} {row.longest * 1000:>7.2f}ms "
                f"{row.rate:>10,.0f}/s {row.blamed:>9.0%}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

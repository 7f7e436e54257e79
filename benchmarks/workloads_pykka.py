"""pykka 2.x's gevent actor: the closest Python peer on the same event loop.

pykka has actors with ``tell`` and ``ask`` but no links, no supervisors and no
restarts, so the supervised-children, restart and pipeline workloads are cells
that say so.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import gevent
from _common import (
    Figures,
    Workload,
    rate,
    rss_bytes,
    settle,
    unsupported,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import pykka
    from pykka.gevent import GeventActor

__all__ = ["WORKLOADS"]


class Echo(GeventActor):
    """Answer ``'ping'``, count other messages, answer ``'count'`` with the count."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_receive(self, message: Any) -> Any:
        if type(message) is int:  # the cast stream: the hot path
            self.count += 1
            return None
        if message == "ping":
            return "pong"
        if message == "count":
            return self.count
        self.count += 1
        return None


def calls(n: int) -> Figures:
    """Ask one actor ``n`` times, one after the other."""
    actor = Echo.start()
    settle()

    started = time.perf_counter()
    for _ in range(n):
        actor.ask("ping")
    figures = {"rate": rate(n, started)}

    actor.stop()
    return figures


def casts(n: int) -> Figures:
    """Tell one actor ``n`` messages, then ask it: all are handled by then."""
    actor = Echo.start()
    settle()

    started = time.perf_counter()
    for i in range(n):
        actor.tell(i)
    handled = actor.ask("count", timeout=60.0)
    figures = {"rate": rate(n, started)}

    assert handled == n, f"actor handled {handled} of {n} messages"
    actor.stop()
    return figures


def start_stop(n: int) -> Figures:
    """Start and stop ``n`` actors, one after the other."""
    settle()

    started = time.perf_counter()
    for _ in range(n):
        Echo.start().stop()
    return {"rate": rate(n, started)}


def memory(n: int) -> Figures:
    """Measure the resident memory of ``n`` idle actors."""
    for actor in [Echo.start() for _ in range(100)]:
        actor.stop()
    settle()
    before = rss_bytes()

    actors = [Echo.start() for _ in range(n)]
    gevent.sleep(0)
    settle()
    after = rss_bytes()

    assert all(actor.is_alive() for actor in actors), "an idle actor ended"
    pykka.ActorRegistry.stop_all(block=False)
    return {"bytes": (after - before) / n}


WORKLOADS: dict[str, Workload] = {
    "casts": casts,
    "calls": calls,
    "start_stop": start_stop,
    "supervised": unsupported("no supervisor in pykka"),
    "restart": unsupported("no supervisor in pykka"),
    "memory": memory,
    "pipeline": unsupported("not ported"),
}

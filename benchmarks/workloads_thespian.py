"""thespian's simpleSystemBase: actors run in the caller's thread, one at a time.

thespian tells a parent when its child actor exits, but it has no supervisor: an
exception in ``receiveMessage`` does not end the actor (the message is retried,
then returned as a ``PoisonMessage``), and nothing restarts an actor. The
supervised-children, restart and pipeline workloads are cells that say so.
"""

from __future__ import annotations

import time
from typing import Any

from _common import (
    Figures,
    Workload,
    rate,
    rss_bytes,
    settle,
    unsupported,
)
from thespian.actors import Actor, ActorExitRequest, ActorSystem

__all__ = ["WORKLOADS"]


class Echo(Actor):
    """Answer ``'ping'``, count other messages, answer ``'count'`` with the count."""

    count = 0

    def receiveMessage(self, message: Any, sender: Any) -> None:  # noqa: N802
        if type(message) is int:  # the cast stream: the hot path
            self.count += 1
        elif isinstance(message, ActorExitRequest):
            return
        elif message == "ping":
            self.send(sender, "pong")
        elif message == "count":
            self.send(sender, self.count)
        else:
            self.count += 1


def _system() -> ActorSystem:
    return ActorSystem("simpleSystemBase")


def calls(n: int) -> Figures:
    """Ask one actor ``n`` times, one after the other."""
    system = _system()
    actor = system.createActor(Echo)
    settle()

    started = time.perf_counter()
    for _ in range(n):
        system.ask(actor, "ping")
    figures = {"rate": rate(n, started)}

    system.shutdown()
    return figures


def casts(n: int) -> Figures:
    """Tell one actor ``n`` messages, then ask it: all are handled by then."""
    system = _system()
    actor = system.createActor(Echo)
    settle()

    started = time.perf_counter()
    for i in range(n):
        system.tell(actor, i)
    handled = system.ask(actor, "count")
    figures = {"rate": rate(n, started)}

    assert handled == n, f"actor handled {handled} of {n} messages"
    system.shutdown()
    return figures


def start_stop(n: int) -> Figures:
    """Create ``n`` actors and ask each to exit, one after the other."""
    system = _system()
    settle()

    started = time.perf_counter()
    for _ in range(n):
        system.tell(system.createActor(Echo), ActorExitRequest())
    figures = {"rate": rate(n, started)}

    system.shutdown()
    return figures


def memory(n: int) -> Figures:
    """Measure the resident memory of ``n`` idle actors."""
    system = _system()
    for actor in [system.createActor(Echo) for _ in range(100)]:
        system.tell(actor, ActorExitRequest())
    settle()
    before = rss_bytes()

    actors = [system.createActor(Echo) for _ in range(n)]
    settle()
    after = rss_bytes()

    assert len(actors) == n
    return {"bytes": (after - before) / n}


WORKLOADS: dict[str, Workload] = {
    "casts": casts,
    "calls": calls,
    "start_stop": start_stop,
    "supervised": unsupported("no dynamic supervisor in thespian"),
    "restart": unsupported("no restart: a crashing handler leaves the actor up"),
    "memory": memory,
    "pipeline": unsupported("not ported"),
}

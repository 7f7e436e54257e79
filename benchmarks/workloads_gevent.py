"""Raw gevent baselines: what each workload costs with the bare primitives.

These are the limits greensup is measured against: a ``Queue`` ping-pong between
two greenlets for calls, an unbounded ``Queue`` stream for casts, ``spawn`` and
``join`` for start-and-stop, a greenlet looping on its own ``Queue.get`` for an
idle server, and spawning and killing greenlets for the supervised children. The
restart baseline is a hand-made respawn from a ``link`` callback.
"""

from __future__ import annotations

import time

import gevent
import gevent.event
import gevent.queue
from _common import (
    Figures,
    Workload,
    median,
    percentile,
    rate,
    rss_bytes,
    settle,
    unsupported,
)

__all__ = ["WORKLOADS"]

_STOP = object()


def _echo_loop(inbox: gevent.queue.Queue, outbox: gevent.queue.Queue) -> None:
    while True:
        request = inbox.get()
        if request is _STOP:
            return
        outbox.put(request)


def _idle_loop(inbox: gevent.queue.Queue) -> None:
    while inbox.get() is not _STOP:
        pass


def calls(n: int) -> Figures:
    """Ping-pong ``n`` requests with a greenlet over two queues."""
    inbox: gevent.queue.Queue = gevent.queue.Queue()
    outbox: gevent.queue.Queue = gevent.queue.Queue()
    server = gevent.spawn(_echo_loop, inbox, outbox)
    settle()

    started = time.perf_counter()
    for i in range(n):
        inbox.put(i)
        outbox.get()
    figures = {"rate": rate(n, started)}

    inbox.put(_STOP)
    server.join()
    return figures


def casts(n: int) -> Figures:
    """Stream ``n`` messages into a greenlet's unbounded queue until all are handled."""
    inbox: gevent.queue.Queue = gevent.queue.Queue()
    done = gevent.event.Event()
    handled = 0

    def consume() -> None:
        nonlocal handled
        while True:
            message = inbox.get()
            if message is _STOP:
                done.set()
                return
            handled += 1

    consumer = gevent.spawn(consume)
    settle()

    started = time.perf_counter()
    for i in range(n):
        inbox.put(i)
    inbox.put(_STOP)
    done.wait()
    figures = {"rate": rate(n, started)}

    assert handled == n, f"consumer handled {handled} of {n} messages"
    consumer.join()
    return figures


def _return_at_once() -> None:
    """A greenlet's function written in Python, as every server's is."""


def start_stop(n: int) -> Figures:
    """Spawn and join ``n`` greenlets, one after the other.

    Each runs a Python function: a greenlet that only calls a C builtin (``int``)
    never sets up a Python frame stack of its own and is about twice as fast,
    which no server can be.
    """
    settle()

    started = time.perf_counter()
    for _ in range(n):
        gevent.spawn(_return_at_once).join()
    return {"rate": rate(n, started)}


def supervised(n: int) -> Figures:
    """Spawn ``n`` idle greenlets until all run, then kill them all."""
    running = 0
    all_running = gevent.event.Event()

    def idle() -> None:
        nonlocal running
        running += 1
        if running == n:
            all_running.set()
        gevent.queue.Queue().get()

    settle()
    started = time.perf_counter()
    greenlets = [gevent.spawn(idle) for _ in range(n)]
    all_running.wait()
    start_rate = rate(n, started)

    started = time.perf_counter()
    gevent.killall(greenlets, block=True)
    stop_rate = rate(n, started)

    assert not any(greenlets), "a greenlet survived killall"
    return {"start": start_rate, "stop": stop_rate}


class _Respawner:
    """Keep one echo greenlet alive by spawning a new one when it dies."""

    def __init__(self) -> None:
        self.stopped = False
        self.generation = 0
        self.inbox: gevent.queue.Queue = gevent.queue.Queue()
        self._spawn()

    def _spawn(self) -> None:
        self.generation += 1
        self.inbox = gevent.queue.Queue()
        self.greenlet = gevent.spawn(self._serve, self.inbox, self.generation)
        # Runs in the hub: only spawns, never blocks.
        self.greenlet.link(self._on_exit)

    def _on_exit(self, greenlet: gevent.Greenlet) -> None:
        if not self.stopped:
            self._spawn()

    @staticmethod
    def _serve(inbox: gevent.queue.Queue, generation: int) -> None:
        while True:
            request, reply = inbox.get()
            if request == "crash":
                raise RuntimeError("crash on request")
            if request is _STOP:
                return
            reply.set(generation)


def restart(n: int) -> Figures:
    """Crash a respawned greenlet ``n`` times; time until the new one answers."""
    hub = gevent.get_hub()
    hub.exception_stream = None
    respawner = _Respawner()
    samples = []
    settle()

    for _ in range(n):
        old = respawner.generation
        started = time.perf_counter()
        respawner.inbox.put(("crash", None))
        with gevent.Timeout(10.0):
            while respawner.generation == old:
                gevent.sleep(0)
        reply = gevent.event.AsyncResult()
        respawner.inbox.put(("ping", reply))
        assert reply.get(timeout=5.0) != old, "the old greenlet answered"
        samples.append((time.perf_counter() - started) * 1000.0)

    respawner.stopped = True
    respawner.inbox.put((_STOP, None))
    respawner.greenlet.join()
    return {"median_ms": median(samples), "p99_ms": percentile(samples, 0.99)}


def memory(n: int) -> Figures:
    """Measure the resident memory of ``n`` greenlets idle in ``Queue.get``."""
    warmup = [gevent.spawn(_idle_loop, gevent.queue.Queue()) for _ in range(100)]
    gevent.sleep(0)
    gevent.killall(warmup)
    settle()
    before = rss_bytes()

    greenlets = [gevent.spawn(_idle_loop, gevent.queue.Queue()) for _ in range(n)]
    gevent.sleep(0)
    settle()
    after = rss_bytes()

    assert all(not g.dead for g in greenlets), "an idle greenlet ended"
    return {"bytes": (after - before) / n}


WORKLOADS: dict[str, Workload] = {
    "casts": casts,
    "calls": calls,
    "start_stop": start_stop,
    "supervised": supervised,
    "restart": restart,
    "memory": memory,
    "pipeline": unsupported("n/a: no framework"),
}

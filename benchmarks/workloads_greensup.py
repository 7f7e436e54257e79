"""greensup's side of every workload, written against the public API only.

The server is one small GenServer, :class:`Echo`: it answers a call with its own
pid, counts casts, answers ``'count'`` with the count, and crashes on the cast
``'crash'``. Every figure is taken from the main greenlet, which becomes a process
on first use, as a user's script would.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from _common import Figures, Workload, median, percentile, rate, rss_bytes, settle

import greensup

__all__ = ["WORKLOADS", "Echo"]

#: Seconds a restart may take before the workload gives up on it.
RESTART_TIMEOUT = 10.0


class Echo(greensup.GenServer):
    """Answer calls with this server's pid, count casts, crash on request."""

    def init(self) -> None:
        self.count = 0

    def handle_call(self, request: Any, caller: Any) -> Any:
        if request == "count":
            return self.count
        return self.pid

    def handle_cast(self, request: Any) -> None:
        if type(request) is int:  # the cast stream: the hot path
            self.count += 1
        elif request == "crash":
            raise RuntimeError("crash on request")


def calls(n: int) -> Figures:
    """Make ``n`` calls to one server, one after the other."""
    server = Echo.start()
    settle()

    started = time.perf_counter()
    for _ in range(n):
        greensup.call(server, "ping")
    figures = {"rate": rate(n, started)}

    greensup.stop(server)
    return figures


def casts(n: int) -> Figures:
    """Cast ``n`` messages to one server, then call it: all are handled by then."""
    server = Echo.start()
    settle()

    started = time.perf_counter()
    for i in range(n):
        greensup.cast(server, i)
    handled = greensup.call(server, "count", timeout=60.0)
    figures = {"rate": rate(n, started)}

    assert handled == n, f"server handled {handled} of {n} casts"
    greensup.stop(server)
    return figures


def start_stop(n: int) -> Figures:
    """Start and stop ``n`` servers, one after the other."""
    settle()

    started = time.perf_counter()
    for _ in range(n):
        greensup.stop(Echo.start())
    return {"rate": rate(n, started)}


def supervised(n: int) -> Figures:
    """Start ``n`` children under a DynamicSupervisor, then shut it down."""
    dynamic = greensup.DynamicSupervisor
    supervisor = dynamic.start_link()
    spec = Echo.child_spec()
    settle()

    started = time.perf_counter()
    for _ in range(n):
        dynamic.start_child(supervisor, spec)
    start_rate = rate(n, started)
    counts = dynamic.count_children(supervisor)

    started = time.perf_counter()
    greensup.Supervisor.stop(supervisor)
    stop_rate = rate(n, started)

    assert counts["active"] == n, f"{counts['active']} of {n} children running"
    return {"start": start_rate, "stop": stop_rate}


def _wait_for_replacement(name: str, old: greensup.Pid) -> None:
    """Call ``name`` until a process other than ``old`` answers (10 s at most)."""
    with gevent.Timeout(RESTART_TIMEOUT):
        while True:
            try:
                if greensup.call(name, "ping") != old:
                    return
            except (greensup.NoProc, greensup.ServerExit):
                gevent.sleep(0)


def restart(n: int) -> Figures:
    """Crash a supervised server ``n`` times; time until its replacement answers."""
    supervisor = greensup.Supervisor.start_link(
        [Echo.child_spec(name="victim")], max_restarts=n * 10, max_seconds=1.0
    )
    samples = []
    settle()

    for _ in range(n):
        old = greensup.whereis("victim")
        started = time.perf_counter()
        greensup.cast(old, "crash")
        _wait_for_replacement("victim", old)
        samples.append((time.perf_counter() - started) * 1000.0)

    greensup.Supervisor.stop(supervisor)
    return {"median_ms": median(samples), "p99_ms": percentile(samples, 0.99)}


def memory(n: int) -> Figures:
    """Measure the resident memory of ``n`` idle servers."""
    for server in [Echo.start() for _ in range(100)]:
        greensup.stop(server)
    settle()
    before = rss_bytes()

    servers = [Echo.start() for _ in range(n)]
    settle()
    after = rss_bytes()

    assert all(server.alive for server in servers), "an idle server ended"
    return {"bytes": (after - before) / n}


def pipeline(n: int) -> Figures:
    """Run ``n`` zero-cost jobs through the job-queue demo, end to end."""
    from workloads_pipeline import run_pipeline

    return run_pipeline(n)


WORKLOADS: dict[str, Workload] = {
    "casts": casts,
    "calls": calls,
    "start_stop": start_stop,
    "supervised": supervised,
    "restart": restart,
    "memory": memory,
    "pipeline": pipeline,
}

"""triotp: OTP's GenServer, supervisors and dynamic supervisors on trio.

triotp's gen_server is a module of async callbacks; :data:`ECHO` builds one in
memory. Its mailboxes are unbuffered trio channels, so a cast waits until the
server takes the message: that is how triotp works, and what its cast rate shows.
Each workload runs inside its own ``trio.run``.
"""

from __future__ import annotations

import time
import types
from collections.abc import Awaitable, Callable
from typing import Any

import logbook
import trio
import trio.testing
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
from triotp import dynamic_supervisor, gen_server, mailbox, supervisor

__all__ = ["WORKLOADS"]


async def _init(ready: trio.Event | None) -> dict[str, Any]:
    if ready is not None:
        ready.set()
    return {"count": 0, "incarnation": object()}


async def _handle_call(request: Any, caller: Any, state: dict[str, Any]) -> Any:
    if request == "count":
        return gen_server.Reply(state["count"]), state
    return gen_server.Reply(state["incarnation"]), state


async def _handle_cast(request: Any, state: dict[str, Any]) -> Any:
    if type(request) is int:  # the cast stream: the hot path
        state["count"] += 1
        return gen_server.NoReply(), state
    if request == "stop":
        return gen_server.Stop(), state
    if request == "crash":
        raise RuntimeError("crash on request")
    state["count"] += 1
    return gen_server.NoReply(), state


async def _terminate(reason: Any, state: dict[str, Any]) -> None:
    """Stay quiet: triotp would log every crash through logbook otherwise."""


ECHO = types.ModuleType("echo_server")
ECHO.init = _init
ECHO.handle_call = _handle_call
ECHO.handle_cast = _handle_cast
ECHO.terminate = _terminate


def _run(main: Callable[[], Awaitable[Figures]]) -> Figures:
    """Run ``main`` in a fresh trio loop with triotp's registries set up."""

    async def wrapper() -> Figures:
        mailbox._init()
        return await main()

    with logbook.NullHandler().applicationbound():
        return trio.run(wrapper)


async def _start_echo(nursery: trio.Nursery, name: str) -> None:
    ready = trio.Event()
    nursery.start_soon(gen_server.start, ECHO, ready, name)
    await ready.wait()


def calls(n: int) -> Figures:
    """Call one server ``n`` times, one after the other."""

    async def main() -> Figures:
        async with trio.open_nursery() as nursery:
            await _start_echo(nursery, "echo")
            settle()

            started = time.perf_counter()
            for _ in range(n):
                await gen_server.call("echo", "ping")
            figures = {"rate": rate(n, started)}

            await gen_server.cast("echo", "stop")
        return figures

    return _run(main)


def casts(n: int) -> Figures:
    """Cast ``n`` messages to one server, then call it: all are handled by then."""

    async def main() -> Figures:
        async with trio.open_nursery() as nursery:
            await _start_echo(nursery, "echo")
            settle()

            started = time.perf_counter()
            for i in range(n):
                await gen_server.cast("echo", i)
            handled = await gen_server.call("echo", "count")
            figures = {"rate": rate(n, started)}

            assert handled == n, f"server handled {handled} of {n} casts"
            await gen_server.cast("echo", "stop")
        return figures

    return _run(main)


def start_stop(n: int) -> Figures:
    """Start and stop ``n`` servers, one after the other."""

    async def main() -> Figures:
        settle()
        started = time.perf_counter()
        for _ in range(n):
            async with trio.open_nursery() as nursery:
                await _start_echo(nursery, "echo")
                await gen_server.cast("echo", "stop")
        return {"rate": rate(n, started)}

    return _run(main)


def supervised(n: int) -> Figures:
    """Start ``n`` children under a dynamic supervisor, then cancel it."""

    async def main() -> Figures:
        running = 0
        all_running = trio.Event()

        async def child() -> None:
            nonlocal running
            async with mailbox.open() as mid:
                running += 1
                if running == n:
                    all_running.set()
                await mailbox.receive(mid)

        spec = supervisor.child_spec(
            id="child",
            task=child,
            args=[],
            restart=supervisor.restart_strategy.PERMANENT,
        )
        async with trio.open_nursery() as nursery:
            sup = await nursery.start(dynamic_supervisor.start, supervisor.options())
            settle()

            started = time.perf_counter()
            for _ in range(n):
                await dynamic_supervisor.start_child(sup, spec)
            await all_running.wait()
            start_rate = rate(n, started)

            started = time.perf_counter()
            nursery.cancel_scope.cancel()
        stop_rate = rate(n, started)
        return {"start": start_rate, "stop": stop_rate}

    return _run(main)


async def _wait_for_replacement(name: str, old: object) -> None:
    """Call ``name`` until a server other than ``old`` answers (10 s at most)."""
    with trio.fail_after(10.0):
        while True:
            try:
                if await gen_server.call(name, "ping") is not old:
                    return
            except (
                mailbox.MailboxDoesNotExist,
                trio.BrokenResourceError,
                trio.ClosedResourceError,
            ):
                await trio.sleep(0)


def restart(n: int) -> Figures:
    """Crash a supervised server ``n`` times; time until its replacement answers."""

    async def main() -> Figures:
        ready = trio.Event()
        spec = supervisor.child_spec(
            id="victim", task=gen_server.start, args=[ECHO, ready, "victim"]
        )
        options = supervisor.options(max_restarts=n * 10, max_seconds=1)
        samples = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(supervisor.start, [spec], options)
            await ready.wait()
            settle()

            for _ in range(n):
                old = await gen_server.call("victim", "ping")
                started = time.perf_counter()
                await gen_server.cast("victim", "crash")
                await _wait_for_replacement("victim", old)
                samples.append((time.perf_counter() - started) * 1000.0)

            nursery.cancel_scope.cancel()
        return {"median_ms": median(samples), "p99_ms": percentile(samples, 0.99)}

    return _run(main)


def memory(n: int) -> Figures:
    """Measure the resident memory of ``n`` idle servers."""

    async def main() -> Figures:
        async with trio.open_nursery() as nursery:
            for i in range(100):
                await _start_echo(nursery, f"warm{i}")
                await gen_server.cast(f"warm{i}", "stop")
        settle()
        before = rss_bytes()

        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(gen_server.start, ECHO, None, None)
            await trio.sleep(0)
            await trio.testing.wait_all_tasks_blocked()
            settle()
            after = rss_bytes()
            nursery.cancel_scope.cancel()
        return {"bytes": (after - before) / n}

    return _run(main)


WORKLOADS: dict[str, Workload] = {
    "casts": casts,
    "calls": calls,
    "start_stop": start_stop,
    "supervised": supervised,
    "restart": restart,
    "memory": memory,
    "pipeline": unsupported("not ported"),
}

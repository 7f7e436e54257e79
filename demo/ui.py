"""The live terminal dashboard of the job-queue demo, with blessed.

:func:`run_dashboard` runs the Application in a process of its own and the
dashboard in the calling one. Each frame takes a snapshot of the engine,
renders it with the pure functions of :mod:`demo.ui_render` and writes the
lines that changed in one write, inside synchronized output; then it waits
for a key until the next frame is due. That wait goes through gevent's
``select``, so the hub keeps running timers, workers and calls meanwhile.

The terminal's modes change only in ``with`` blocks, so the normal screen,
the cursor and echo come back however the dashboard ends: ``q``, Ctrl-C,
SIGTERM, the supervision tree dying, or an exception anywhere.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import time
from collections.abc import Iterator
from typing import TextIO

import gevent
import gevent.event
import gevent.select
from blessed import Terminal
from blessed.keyboard import Keystroke

import greensup
from demo.app import JobQueueApp
from demo.run import run_app
from demo.ui_render import View, render_frame
from demo.ui_text import Palette

__all__ = [
    "FRAME_SECONDS",
    "Dashboard",
    "GeventTerminal",
    "open_terminal",
    "run_dashboard",
]

#: Seconds between frames: a steady 10 frames a second.
FRAME_SECONDS = 0.1
#: How long the result of a key stays on screen.
MESSAGE_SECONDS = 4.0
#: How long a restarted child of the root is marked as just restarted.
FRESH_SECONDS = 5.0
#: The signals that stop the demo gracefully while the dashboard runs.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# Synchronized output (DEC mode 2026): the terminal shows a frame only once
# it is complete. Terminals without it ignore the unknown mode.
_BEGIN_FRAME = "\x1b[?2026h"
_END_FRAME = "\x1b[?2026l"


class GeventTerminal(Terminal):
    """A blessed ``Terminal`` whose waits for a key let other greenlets run.

    blessed waits for input in ``kbhit`` with ``select.select``, which would
    block the whole OS thread, and the gevent hub with it; here the wait goes
    through ``gevent.select``, and every blessed call that waits for input
    (``inkey``, terminal queries) goes through ``kbhit``.
    """

    def kbhit(self, timeout: float | None = None) -> bool:
        """Return whether a key is waiting; blocks (cooperatively) up to ``timeout``."""
        fd = getattr(self, "_keyboard_fd", None)
        if fd is None or getattr(self, "_keyboard_eof", False):
            return False
        if timeout is None or timeout > 0:
            gevent.select.select([fd], [], [], timeout)
        return super().kbhit(timeout=0)


def open_terminal() -> GeventTerminal:
    """Return the terminal on standard output. Blocks while blessed probes it."""
    # NO_COLOR asks for no colour, not for no cursor movement, but blessed
    # would drop both: it is hidden from blessed and honoured by the Palette.
    saved = os.environ.pop("NO_COLOR", None)
    try:
        return GeventTerminal()
    finally:
        if saved is not None:
            os.environ["NO_COLOR"] = saved


class Dashboard:
    """The frame loop: snapshot, render, write, wait for a key.

    Runs in the process that owns the terminal; ``runner`` is the process
    running the Application, which a stop request is sent to.

    Args:
        term: the terminal, in cbreak mode, on the alternate screen.
        app: the demo application.
        runner: the process in :func:`demo.run.run_app`.
        colour: show colours (the terminal permitting).
        frame_seconds: seconds between frames.
    """

    def __init__(
        self,
        term: Terminal,
        app: JobQueueApp,
        runner: greensup.Pid,
        colour: bool = True,
        frame_seconds: float = FRAME_SECONDS,
    ) -> None:
        self.term = term
        self.palette = Palette(term, colour)
        self.app = app
        self.runner = runner
        self.frame_seconds = frame_seconds
        self.stopping = False
        self.suspending = False
        self._stop_reason: str | None = None
        self._view = View(None, drain_seconds=app.config.drain_seconds)
        self._message = ""
        self._message_until = 0.0
        self._shown: list[str] = []
        self._size = (0, 0)
        self._restarts: dict[str, int] = {}
        self._fresh: dict[str, float] = {}

    def run(self, done: gevent.event.AsyncResult) -> None:
        """Show frames until ``done`` is set or a suspension is asked for.

        Blocks, letting other greenlets run while it waits for keys.
        """
        self._shown, self._size = [], (0, 0)  # the screen may hold anything
        while not done.ready() and not self.suspending:
            due = time.monotonic() + self.frame_seconds
            self._send_stop()
            self.draw(self.sample())
            key = self.term.inkey(timeout=max(0.0, due - time.monotonic()))
            if key:
                self.press(key)
            elif time.monotonic() < due:
                # No wait happened (the keyboard is gone): keep the pace.
                gevent.sleep(due - time.monotonic())

    def request_stop(self, reason: str) -> None:
        """Ask for a graceful stop; the next frame sends it. Never blocks."""
        if self._stop_reason is None:
            self._stop_reason = reason

    def request_suspend(self) -> None:
        """Ask :meth:`run` to return so that the program can stop (Ctrl-Z)."""
        self.suspending = True

    def sample(self) -> View:
        """Take a snapshot of the engine; blocks for one call per component.

        When the engine does not answer (it is starting, restarting a
        component or stopping) the previous snapshot stays, marked stale.
        """
        view = self._view
        try:
            snapshot = self.app.snapshot()
            root = self.app.root
            tree = greensup.supervision_tree(root) if root is not None else None
        except greensup.GreensupError:
            snapshot, tree, stale = view.snapshot, view.tree, True
        else:
            stale = False

        if snapshot is not None and snapshot.queue.draining:
            self.stopping = True
        now = time.monotonic()
        if now > self._message_until:
            self._message = ""
        self._view = View(
            snapshot=snapshot,
            tree=tree,
            phase="stopping" if self.stopping else "running",
            message=self._message,
            drain_seconds=view.drain_seconds,
            stale=stale and snapshot is not None and not self.stopping,
            fresh=self._restarted(tree, now),
        )
        return self._view

    def _restarted(self, tree: greensup.TreeNode | None, now: float) -> frozenset[str]:
        """Return the root's children restarted within ``FRESH_SECONDS``."""
        for child in tree.children if tree is not None else ():
            name = str(child.id)
            if child.restarts > self._restarts.get(name, child.restarts):
                self._fresh[name] = now + FRESH_SECONDS
            self._restarts[name] = child.restarts
        return frozenset(name for name, until in self._fresh.items() if until > now)

    def draw(self, view: View) -> None:
        """Write the lines of ``view`` that changed, in one write."""
        term = self.term
        width, height = term.width, term.height
        lines = render_frame(self.palette, view, width, height)

        out = [_BEGIN_FRAME]
        if (width, height) != self._size:
            out.append(term.normal + term.clear)
            self._shown, self._size = [], (width, height)
        for row, line in enumerate(lines):
            if row >= len(self._shown) or self._shown[row] != line:
                out.append(term.move_yx(row, 0) + line)
        out.append(_END_FRAME)

        term.stream.write("".join(out))
        term.stream.flush()
        self._shown = lines

    def press(self, key: Keystroke | str) -> None:
        """Act on one key: ``q`` stops, ``+``, ``=`` and ``-`` change the load."""
        text = str(key)
        if text in ("q", "Q", "\x03"):
            self.request_stop("key")
            self._say("stopping gracefully…")
            return
        if text not in ("+", "=", "-"):
            return
        if self.stopping:
            self._say("stopping: the queue takes no more changes")
            return

        try:
            self._say(self._change(text))
        except greensup.GreensupError:
            self._say("the queue is not answering; try again")

    def _change(self, key: str) -> str:
        if key == "+":
            accepted, rejected = self.app.submit(10)
            if rejected:
                return f"+10 jobs: {accepted} queued, {rejected} rejected (queue full)"
            return f"+10 jobs: {accepted} queued"
        if key == "=":
            if self.app.add_worker():
                return "worker added"
            return f"no worker added: {self.app.config.max_workers} is the maximum"
        if self.app.remove_worker():
            return "a worker stops after its current job"
        return "the last worker stays"

    def _say(self, message: str) -> None:
        self._message = message
        self._message_until = time.monotonic() + MESSAGE_SECONDS

    def _send_stop(self) -> None:
        # Sent from the frame loop, not the signal handler's greenlet, so
        # that only this process ever talks to the runner.
        if self._stop_reason is not None and not self.stopping:
            self.stopping = True
            greensup.send(self.runner, ("stop", self._stop_reason))


def run_dashboard(
    app: JobQueueApp,
    duration: float | None = None,
    until_idle: bool = False,
    *,
    term: Terminal | None = None,
    frame_seconds: float = FRAME_SECONDS,
) -> int:
    """Run ``app`` with the dashboard on the terminal; blocks until it stops.

    Stops gracefully on ``q``, Ctrl-C, SIGTERM or SIGHUP, after ``duration``
    seconds, or with ``until_idle`` once no job is left; see
    :func:`demo.run.run_app`. Ctrl-Z gives the terminal back and stops the
    OS process until it is continued. The terminal is restored in every
    case, then one line on standard output sums up the run.

    Returns:
        0 after a graceful stop, 1 when the supervision tree died, 2 when
        the terminal cannot move its cursor (nothing was started).

    Raises:
        Exception: whatever the application or the dashboard raised, once
            the application is stopped and the terminal restored.
    """
    term = term or open_terminal()
    if not term.does_styling or not term.move_yx(0, 0):
        kind = term.kind or os.environ.get("TERM", "?")
        print(
            f"run.py: error: the terminal ({kind}) cannot show the dashboard: "
            "use --headless",
            file=sys.stderr,
        )
        return 2

    done: gevent.event.AsyncResult = gevent.event.AsyncResult()
    runner = greensup.spawn(_run_app, app, duration, until_idle, done)
    dashboard = Dashboard(
        term, app, runner, not os.environ.get("NO_COLOR"), frame_seconds
    )
    held = io.StringIO()
    try:
        with _stop_signals(dashboard):
            _show(dashboard, done, held)
    finally:
        _finish(runner, done, app)
        sys.stderr.write(held.getvalue())

    status: int = done.get()
    _report(term.stream, app, status)
    return status


def _show(
    dashboard: Dashboard, done: gevent.event.AsyncResult, held: io.StringIO
) -> None:
    """Run the dashboard until ``done``, giving the terminal back at Ctrl-Z."""
    while not done.ready():
        with _terminal_modes(dashboard.term, held):
            dashboard.run(done)
        if dashboard.suspending:
            # Stopped as the shell's job control expects, with the terminal
            # restored; the frames start again once the program continues.
            dashboard.suspending = False
            os.kill(os.getpid(), signal.SIGSTOP)


@contextlib.contextmanager
def _terminal_modes(term: Terminal, held: TextIO) -> Iterator[None]:
    # Anything written to stderr meanwhile would land on the dashboard: it
    # is held and shown once the normal screen is back.
    with (
        term.fullscreen(),
        term.hidden_cursor(),
        term.cbreak(),
        contextlib.redirect_stderr(held),
    ):
        yield


@contextlib.contextmanager
def _stop_signals(dashboard: Dashboard) -> Iterator[None]:
    handlers = [
        gevent.signal_handler(
            signum, dashboard.request_stop, signal.Signals(signum).name
        )
        for signum in STOP_SIGNALS
    ]
    handlers.append(gevent.signal_handler(signal.SIGTSTP, dashboard.request_suspend))
    try:
        yield
    finally:
        for handler in handlers:
            handler.cancel()


def _run_app(
    app: JobQueueApp,
    duration: float | None,
    until_idle: bool,
    done: gevent.event.AsyncResult,
) -> None:
    try:
        done.set(run_app(app, duration, until_idle, signals=False))
    except BaseException as exc:  # handed to the dashboard, raised after it
        done.set_exception(exc)
        if not isinstance(exc, Exception):
            raise


def _finish(
    runner: greensup.Pid, done: gevent.event.AsyncResult, app: JobQueueApp
) -> None:
    """Stop the application if the dashboard ended first; blocks until it has."""
    if done.ready():
        return
    greensup.send(runner, ("stop", "dashboard"))
    done.wait(app.config.drain_seconds + 30.0)
    if not done.ready():
        greensup.exit(runner, "kill")
        done.set_exception(RuntimeError("the application did not stop in time"))


def _report(out: TextIO, app: JobQueueApp, status: int) -> None:
    summary = app.summary
    if status != 0 or summary is None:
        out.write("run.py: the supervision tree died; see demo.log in the data dir\n")
        out.flush()
        return
    saved = summary.pending + summary.retrying
    out.write(
        f"run.py: stopped: {summary.completed} completed, "
        f"{summary.dead_lettered} dead-lettered, {saved} saved for the next run, "
        f"{summary.rejected} rejected, {summary.throughput:.1f} jobs/s, "
        f"max hub stall {summary.max_hub_stall_ms:.0f} ms\n"
    )
    out.flush()

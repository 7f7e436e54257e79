"""Application: the lifecycle around a root supervisor, and ``run`` for ``main``.

``start_application`` starts an application master process that calls
``app.start()``, so the root supervisor is linked to the master, not to the
caller. Stopping runs ``prep_stop`` (stop intake, drain), stops the tree in
reverse order honouring every shutdown value, then runs ``stop``. ``run`` adds
SIGINT/SIGTERM: the signal handler only sends a message to the waiting process,
and the stop itself runs there.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

import gevent

from greensup._errors import (
    AlreadyStarted,
    CallTimeout,
    ReceiveTimeout,
    ServerExit,
    StartError,
)
from greensup._genserver import GenServer, Stop, call, stop
from greensup._process import (
    CRASHES,
    Pid,
    check_timeout,
    kill_linked,
    monitor,
    receive,
    self_pid,
    send,
    trap_exit,
)
from greensup._process import exit as exit_signal
from greensup._reports import application_log, report
from greensup._types import Down, Exit, short_repr

__all__ = ["Application", "run", "start_application", "stop_application"]


class Application:
    """Base class of an application: override ``start``, and optionally
    ``prep_stop`` and ``stop``. OTP: the ``application`` behaviour.

    Every callback runs in the application master process.
    """

    def start(self) -> Pid:
        """Build the supervision tree and return the root supervisor's pid.

        Start the root with ``start_link`` so that it is linked to the master.
        If it raises, ``start_application`` raises ``StartError``.
        """
        raise NotImplementedError(f"{type(self).__name__} must define start()")

    def prep_stop(self) -> None:
        """Runs before the tree stops: stop intake, drain in-flight work.

        If it raises, the error is logged and the stop goes on.
        """

    def stop(self) -> None:
        """Runs after the tree has stopped. If it raises, the error is logged."""

    @property
    def root(self) -> Pid | None:
        """The root supervisor while it runs, else None. Never blocks."""
        root: Pid | None = getattr(self, "_greensup_root", None)
        return root if root is not None and root.alive else None


class _Master(GenServer):
    """The application master: parent of the root supervisor."""

    _app: Application
    _root: Pid

    def init(self, app: Application) -> None:
        trap_exit(True)
        self._app = app
        root = app.start()
        if not isinstance(root, Pid):
            raise TypeError(
                f"{type(app).__name__}.start returned {short_repr(root)}; it must "
                f"return the root supervisor's Pid"
            )
        self._root = root
        app._greensup_root = root  # type: ignore[attr-defined]
        _report(app, logging.INFO, event="started", root=root)

    def handle_call(self, request: Any, caller: Any) -> Any:
        kind, timeout = request
        if kind != "stop":
            raise ValueError(f"application master got {short_repr(request)}")
        self._stop_tree(timeout)
        raise Stop("normal", reply=None)

    def handle_info(self, msg: Any) -> None:
        if type(msg) is Exit and msg.pid is self._root:
            _report(self._app, logging.ERROR, event="root exited", reason=msg.reason)
            _safely(self._app, "stop", self._app.stop)
            raise Stop(("shutdown", "root supervisor exited"))

    def _stop_tree(self, timeout: float | None) -> None:
        app = self._app
        deadline = None if timeout is None else time.monotonic() + timeout
        _safely(app, "prep_stop", app.prep_stop)
        if self._root.alive:
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            try:
                stop(self._root, "shutdown", left)
            except CallTimeout:
                # Out of time: the tree goes now, and stop() still runs.
                _report(app, logging.WARNING, event="killed tree", reason="timeout")
                kill_linked(self._root, spare=self.pid)
            except CRASHES as exc:
                _report(app, logging.ERROR, event="unclean stop", reason=exc)
        _safely(app, "stop", app.stop)
        _report(app, logging.INFO, event="stopped", root=self._root)


def _safely(app: Application, callback: str, fn: Any) -> None:
    try:
        fn()
    except Exception as exc:
        _report(app, logging.ERROR, callback=callback, reason=exc, exc_info=exc)


def _report(app: Application, level: int, exc_info: Any = None, **fields: Any) -> None:
    fields = {"application": type(app).__name__, **fields}
    report(application_log, level, "application report", fields, exc_info=exc_info)


def start_application(app: Application) -> Application:
    """Start ``app``: its master process runs ``app.start()``.

    Blocks until the tree has started. Returns ``app``.

    Raises:
        StartError: ``start`` raised or did not return a Pid.
        AlreadyStarted: ``app`` is running already.
        TypeError: ``app`` is not an Application.

    OTP: ``application:start/1``.
    """
    if not isinstance(app, Application):
        raise TypeError(
            f"start_application needs an Application, got {short_repr(app)}"
        )
    name = type(app).__name__
    master = _master_pid(app)
    if master is not None and master.alive:
        raise AlreadyStarted(f"application {name} is already running")
    try:
        app._greensup_master = _Master.start(app)  # type: ignore[attr-defined]
    except StartError as exc:
        cause = exc.reason if isinstance(exc.reason, BaseException) else exc
        detail = str(exc).removeprefix("start of _Master failed: ")
        raise StartError(
            f"application {name} failed to start: {detail}", exc.reason
        ) from cause
    return app


def _master_pid(app: Application) -> Pid | None:
    master: Pid | None = getattr(app, "_greensup_master", None)
    return master


def stop_application(app: Application, timeout: float | None = 30.0) -> None:
    """Stop ``app``: ``prep_stop``, the tree in reverse order, then ``stop``.

    Blocks until all of it has run, for at most about ``timeout`` seconds
    (None: for as long as it takes). A tree still running when the time is up
    is killed, and ``stop`` runs after it; if ``prep_stop`` or ``stop`` itself
    is still running then, the application is killed as it stands and an error
    is logged. Stopping an application that is not running does nothing.

    OTP: ``application:stop/1``.
    """
    check_timeout(timeout)
    master = _master_pid(app)
    if master is None or not master.alive:
        return
    grace = None if timeout is None else timeout + _STOP_GRACE
    try:
        call(master, ("stop", timeout), timeout=grace)
    except CallTimeout:
        _report(app, logging.ERROR, event="killed", reason="stop callbacks overran")
        root = app.root
        if root is not None:
            kill_linked(root, spare=self_pid())
        exit_signal(master, "kill")
    except ServerExit as exc:
        application_log.debug("application master exited while stopping: %r", exc)


#: How long past its own timeout stop_application waits for the master, which
#: kills an overdue tree itself, before it kills everything.
_STOP_GRACE = 1.0


def _on_signal(waiter: Pid, signum: int) -> None:
    # Runs on a signal: only hands the event to the waiting process.
    send(waiter, ("signal", signum))


def _wait_for_signal_or_down(ref: Any) -> Any:
    def wanted(m: Any) -> bool:
        if type(m) is Down:
            return bool(m.ref == ref)
        return isinstance(m, tuple) and len(m) == 2 and m[0] == "signal"

    while True:
        # A timed wait keeps a watcher on the loop: with only signal watchers
        # (which do not hold the loop open) gevent would call it a deadlock.
        try:
            return receive(3600.0, wanted)
        except ReceiveTimeout:
            continue


def run(app: Application) -> int:
    """Start ``app``, block until SIGINT/SIGTERM or the root supervisor exits,
    then stop it gracefully.

    Returns:
        0 after a requested stop, 1 when the tree died by itself.

    OTP: what ``erl -s`` and a release's boot script do.
    """
    start_application(app)
    master = _master_pid(app)
    assert master is not None, "a started application has a master"
    ref = monitor(master)
    me = self_pid()
    handlers = [
        gevent.signal_handler(signum, _on_signal, me, signum)
        for signum in (signal.SIGINT, signal.SIGTERM)
    ]
    try:
        msg = _wait_for_signal_or_down(ref)
    finally:
        for handler in handlers:
            handler.cancel()
    if type(msg) is Down:
        return 1
    stop_application(app)
    return 0

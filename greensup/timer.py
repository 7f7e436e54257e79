"""Timers: send a message, or call a function in a new process, after a delay.

Timers run on gevent's loop, in real time. Their callbacks run in the hub and only
hand an event to a process (a message put in a mailbox, a process spawned), so a
timer can never block the hub or run user code there. OTP: the ``timer`` module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gevent import get_hub

from greensup._process import (
    Pid,
    _new_process,
    _start,
    add_exit_hook,
    check_callable,
    remove_exit_hook,
    resolve,
    self_pid,
)
from greensup._types import check_seconds, short_repr

__all__ = ["TimerRef", "apply_after", "cancel", "send_after", "send_interval"]


class TimerRef:
    """A running timer; pass it to :func:`cancel`. Never equal to another."""

    __slots__ = ("_kind", "_action", "_interval", "_due", "_watcher", "_owner")

    def __init__(
        self,
        kind: str,
        seconds: float,
        action: Callable[[], None],
        interval: float | None = None,
    ) -> None:
        loop = get_hub().loop
        loop.update_now()
        self._kind = kind
        self._action = action
        self._interval = interval
        self._due = loop.now() + seconds
        self._owner: Pid | None = None
        self._watcher: Any = None
        self._arm(seconds)

    def __repr__(self) -> str:
        state = "active" if self._watcher is not None else "done"
        return f"<TimerRef {self._kind} {state}>"

    def _arm(self, delay: float) -> None:
        watcher = get_hub().loop.timer(max(delay, 0.0))
        watcher.start(self._fire)
        self._watcher = watcher

    def _fire(self) -> None:
        # Hub callback: hands a message or a new process over; must not block/raise.
        self._watcher.close()
        self._watcher = None
        self._action()
        if self._interval is None:
            self._release_owner()
            return
        # The next tick is due a whole interval after the last one was due, not
        # after it fired, so lateness never accumulates. A tick that is already
        # late fires on the next loop turn: late ticks are caught up, not lost.
        loop = get_hub().loop
        loop.update_now()
        self._due += self._interval
        self._arm(self._due - loop.now())

    def cancel(self) -> float | None:
        """Stop the timer; see :func:`cancel`."""
        watcher = self._watcher
        if watcher is None:
            return None
        watcher.close()
        self._watcher = None
        self._release_owner()
        loop = get_hub().loop
        loop.update_now()
        left: float = max(self._due - loop.now(), 0.0)
        return left

    def _release_owner(self) -> None:
        if self._owner is not None:
            remove_exit_hook(self._owner, self._stop_silently)
            self._owner = None

    def _stop_silently(self) -> None:
        self._owner = None
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None


def _sender(dest: Pid | str, msg: Any) -> Callable[[], None]:
    resolve(dest)  # raises TypeError now for a destination of the wrong type

    def deliver() -> None:
        # A name is looked up when the timer fires; nobody there: dropped.
        pid = resolve(dest)
        if pid is not None:
            pid._mailbox.put(msg)

    return deliver


def send_after(seconds: float, dest: Pid | str, msg: Any) -> TimerRef:
    """Send ``msg`` to ``dest`` once, ``seconds`` from now. Never blocks.

    A name is looked up when the timer fires. OTP: ``erlang:send_after/3``.

    Raises:
        TypeError: ``seconds`` is not a number, or ``dest`` is neither a Pid
            nor a name.
        ValueError: ``seconds`` is negative.
    """
    delay = check_seconds(seconds, "timer delay")
    return TimerRef("send_after", delay, _sender(dest, msg))


def send_interval(seconds: float, dest: Pid | str, msg: Any) -> TimerRef:
    """Send ``msg`` to ``dest`` every ``seconds``, until cancelled. Never blocks.

    Ticks are scheduled from the start time, so they do not drift; a tick that
    a busy hub made late is still sent, on the next loop turn. The timer is
    cancelled when the calling process exits. OTP: ``timer:send_interval/3``.

    Raises:
        ValueError: ``seconds`` is not positive.
    """
    delay = check_seconds(seconds, "send_interval interval", positive=True)
    owner = self_pid()
    ref = TimerRef("send_interval", delay, _sender(dest, msg), interval=delay)
    ref._owner = owner
    add_exit_hook(owner, ref._stop_silently)
    return ref


def apply_after(
    seconds: float, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> TimerRef:
    """Call ``fn(*args, **kwargs)`` in a new process ``seconds`` from now.

    Never blocks. OTP: ``timer:apply_after/4``.

    Raises:
        TypeError: ``fn`` is not callable.
    """
    delay = check_seconds(seconds, "timer delay")
    check_callable(fn)  # now, rather than in the hub

    def spawn_it() -> None:
        _start(_new_process(fn, args, kwargs))

    return TimerRef("apply_after", delay, spawn_it)


def cancel(ref: TimerRef) -> float | None:
    """Cancel the timer ``ref``; nothing is sent or called after this returns.

    Returns:
        The seconds that were left (to the next tick of an interval), or None
        if it had already fired or been cancelled. Never raises for those.

    Never blocks. OTP: ``erlang:cancel_timer/1``.
    """
    if not isinstance(ref, TimerRef):
        raise TypeError(f"cancel needs a TimerRef, got {short_repr(ref)}")
    return ref.cancel()

"""Processes: greenlets with a mailbox, named by a Pid, linked and monitored.

A process is a greenlet that greensup started (``spawn``) or a plain greenlet that
asked for its own pid (``self_pid``). Its exit is decided here, at once and in one
place (``_exit_process``): the registered name is freed, linked processes get an
exit signal, monitors get ``Down``, callers still waiting on it are answered, and
only then is the greenlet itself unwound by throwing ``ProcessExit`` into it. So a
process that was told to die is dead for everybody else even if its own code
catches ``BaseException`` and carries on: it can no longer receive or be called.

Hub callbacks used here (starting a greenlet, throwing into it, waking a waiter,
the death of an adopted gevent greenlet) only hand an event to a process; user
code runs in the processes only.
"""

from __future__ import annotations

import itertools
import logging
import weakref
from collections.abc import Callable
from typing import Any

import gevent
from gevent import get_hub
from greenlet import GreenletExit, getcurrent, greenlet

from greensup import _registry
from greensup._errors import NoProc, ReceiveTimeout
from greensup._mailbox import TIMED_OUT, Mailbox
from greensup._reply import Exited, ReplySlot
from greensup._reports import crash_log, report
from greensup._types import (
    Down,
    Exit,
    Reason,
    Ref,
    check_seconds,
    kills_links,
    short_repr,
)

__all__ = [
    "CRASHES",
    "Pid",
    "ProcessExit",
    "add_exit_hook",
    "check_callable",
    "check_timeout",
    "require_alive",
    "demonitor",
    "exit",
    "flush_messages",
    "kill_linked",
    "link",
    "monitor",
    "receive",
    "remove_exit_hook",
    "register",
    "registered",
    "resolve",
    "self_pid",
    "send",
    "spawn",
    "spawn_link",
    "spawn_monitor",
    "trap_exit",
    "unlink",
    "unregister",
    "whereis",
]

_ALIVE: Any = None  # the ``_reason`` of a process that has not exited

#: What counts as a crash of user code. ``gevent.Timeout`` is a BaseException
#: so that ``except Exception`` cannot swallow it, but one that escapes a
#: process is an error of that process like any other.
CRASHES: tuple[type[BaseException], ...] = (Exception, gevent.Timeout)
_Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]
_pid_ids = itertools.count(1)
_FOREVER = float("inf")


class ProcessExit(GreenletExit):
    """Raised inside a process that has exited, to unwind its greenlet.

    A process gets it when an exit signal takes it down (``exit(pid,
    reason)``, or a crash of a linked process), when it calls
    ``exit(self_pid(), reason)``, and in the main greenlet when that is linked
    to something that crashes. It is a ``GreenletExit``, so ``except
    Exception`` does not catch it; code that catches it anyway is already dead
    to everyone else. OTP: an exit signal that is not trapped.

    Attributes:
        reason: the reason the process exited with.
        sender: the process whose exit signal it was, when another one.
    """

    __module__ = "greensup"

    def __init__(self, reason: Reason, sender: Pid | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sender = sender

    def __str__(self) -> str:
        if self.sender is None:
            return short_repr(self.reason, 200)
        return f"exit signal from {self.sender!r}: {short_repr(self.reason, 200)}"


class Pid:
    """The identity of a process: opaque, hashable, comparable for equality.

    A pid stays valid after its process exits; sending to it then does nothing.
    """

    __slots__ = (
        "_id",
        "_greenlet",
        "_mailbox",
        "_reason",
        "_trap",
        "_name",
        "_links",
        "_monitors",
        "_watching",
        "_waiting",
        "_on_exit",
        "_behaviour",
        "__weakref__",
    )

    def __init__(self, glet: greenlet | None) -> None:
        self._id = next(_pid_ids)
        self._greenlet = glet
        self._mailbox = Mailbox()
        self._reason: Reason = _ALIVE
        self._trap = False
        self._name: str | None = None
        self._links: set[Pid] | None = None
        # Monitors others hold on this process, and this process holds on others.
        self._monitors: dict[Ref, Pid] | None = None
        self._watching: dict[Ref, Pid] | None = None
        # Callers blocked until this process replies or exits (calls, starts).
        self._waiting: set[ReplySlot] | None = None
        self._on_exit: set[Callable[[], None]] | None = None
        # The GenServer class the process runs, so that requests only a
        # server understands (call, stop) fail at once for anything else.
        self._behaviour: type | None = None

    def __repr__(self) -> str:
        return f"<0.{self._id}.0>"

    @property
    def alive(self) -> bool:
        """Whether the process has not exited yet. Never blocks."""
        return self._reason is _ALIVE

    def __copy__(self) -> Pid:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Pid:
        return self

    def __reduce__(self) -> Any:
        raise TypeError(f"{self!r} cannot be pickled: a pid names a greenlet")


class _ProcessGreenlet(greenlet):
    """The greenlet of a spawned process; ``run`` is the process's whole life."""

    __slots__ = ("pid", "_call")

    def __init__(self, call: _Call) -> None:
        super().__init__(parent=get_hub())
        self.pid = Pid(self)
        self._call: _Call | None = call

    def run(self) -> None:
        pid = self.pid
        if pid._reason is not _ALIVE:
            return  # exited before it first ran: its function never runs
        assert self._call is not None, "a process runs once"
        fn, args, kwargs = self._call
        self._call = None
        try:
            fn(*args, **kwargs)
        except ProcessExit as exc:
            reason = exc.reason
            if crash_log.isEnabledFor(logging.DEBUG):
                crash_log.debug("%r exited with %s", pid, short_repr(reason, 120))
        except GreenletExit:
            reason = "killed"
        except CRASHES as exc:
            report(
                crash_log,
                logging.ERROR,
                "crash report",
                {"pid": pid, "function": _function_name(fn), "reason": exc},
                exc_info=exc,
            )
            reason = exc
        except BaseException as exc:
            # KeyboardInterrupt, SystemExit: the process ends, the hub re-raises.
            _exit_process(pid, exc)
            raise
        else:
            reason = "normal"
        _exit_process(pid, reason)


def _function_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or short_repr(fn)


_adopted: weakref.WeakKeyDictionary[greenlet, Pid] = weakref.WeakKeyDictionary()


def self_pid() -> Pid:
    """Return the pid of the calling process. Never blocks.

    A greenlet that greensup did not spawn (the main one too) becomes a process
    the first time it asks, so it can receive, link and monitor.

    Raises:
        RuntimeError: called from the gevent hub, which is no process.
    """
    current = getcurrent()
    if type(current) is _ProcessGreenlet:
        return current.pid
    pid = _adopted.get(current)
    if pid is None or pid._reason is not _ALIVE:
        pid = _adopt(current)
    return pid


def _adopt(glet: greenlet) -> Pid:
    if glet is get_hub():
        raise RuntimeError("the gevent hub is not a process; call from a greenlet")
    pid = Pid(glet)
    _adopted[glet] = pid
    if isinstance(glet, gevent.Greenlet):
        glet.rawlink(_adopted_greenlet_ended)
    return pid


def _adopted_greenlet_ended(glet: gevent.Greenlet) -> None:
    # Hub callback: only records the exit (bookkeeping, no user code); never raises.
    pid = _adopted.get(glet)
    if pid is not None:
        reason = "normal" if glet.successful() else glet.exception
        _exit_process(pid, reason)


def check_callable(fn: object) -> None:
    if not callable(fn):
        raise TypeError(f"spawn needs a callable, got {short_repr(fn)}")


def _new_process(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Pid:
    check_callable(fn)
    glet = _ProcessGreenlet((fn, args, kwargs))
    return glet.pid


def _start(pid: Pid) -> Pid:
    glet = pid._greenlet
    assert glet is not None, "a new process has its greenlet"
    get_hub().loop.run_callback(glet.switch)
    return pid


def spawn(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Pid:
    """Run ``fn(*args, **kwargs)`` in a new process and return its pid.

    The process starts on the next turn of the hub. Never blocks.
    OTP: ``erlang:spawn/3``.

    Raises:
        TypeError: ``fn`` is not callable.
    """
    return _start(_new_process(fn, args, kwargs))


def spawn_link(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Pid:
    """Spawn a process already linked to the caller. Never blocks.

    OTP: ``erlang:spawn_link/3``.
    """
    pid = _new_process(fn, args, kwargs)
    _add_link(self_pid(), pid)
    return _start(pid)


def spawn_monitor(
    fn: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> tuple[Pid, Ref]:
    """Spawn a process already monitored by the caller. Never blocks.

    OTP: ``erlang:spawn_monitor/3``.
    """
    pid = _new_process(fn, args, kwargs)
    ref = _add_monitor(self_pid(), pid)
    return _start(pid), ref


def resolve(dest: object) -> Pid | None:
    """Return the pid ``dest`` names (a Pid, or a registered name), or None.

    Raises:
        TypeError: ``dest`` is neither a Pid nor a str name.
    """
    if type(dest) is Pid:
        return dest
    if isinstance(dest, str):
        return _registry.lookup(dest)
    raise TypeError(
        f"a destination must be a Pid or a registered name (str), "
        f"got {short_repr(dest)}"
    )


def require_alive(dest: object, action: str) -> Pid:
    """Return the live pid ``dest`` names, or raise ``NoProc`` saying ``action``."""
    pid = resolve(dest)
    if pid is None:
        raise NoProc(f"{action} {dest!r} failed: no process has that name")
    if pid._reason is not _ALIVE:
        raise NoProc(f"{action} {dest!r} failed: the process is not alive")
    return pid


def send(dest: Pid | str, msg: Any) -> None:
    """Put ``msg`` in the mailbox of ``dest``. Never blocks.

    Sending to a pid that has exited does nothing. OTP: ``erlang:send/2``.

    Raises:
        NoProc: ``dest`` is a name that no process has.
        TypeError: ``dest`` is neither a Pid nor a name.
    """
    pid = resolve(dest)
    if pid is None:
        raise NoProc(f"send to {dest!r} failed: no process has that name")
    pid._mailbox.put(msg)


def check_timeout(timeout: float | None) -> None:
    """Raise a clear error unless ``timeout`` is None or finite seconds."""
    if timeout is not None and not (type(timeout) is float and 0 <= timeout < _FOREVER):
        check_seconds(timeout, "timeout", or_none=True)


def receive(
    timeout: float | None = None, match: Callable[[Any], bool] | None = None
) -> Any:
    """Remove and return the oldest message in the caller's mailbox that matches.

    Blocks until a message for which ``match(msg)`` is true arrives (any message if
    ``match`` is None); messages that do not match stay queued in order.
    ``timeout=None`` waits for ever and ``timeout=0`` only looks at what is queued.
    ``match`` runs in the caller and must not block. OTP: ``receive ... after``.

    Raises:
        ReceiveTimeout: nothing matched within ``timeout`` seconds.
    """
    check_timeout(timeout)
    if match is not None and not callable(match):
        raise TypeError(f"match must be a function or None, got {short_repr(match)}")
    me = self_pid()
    _unwind_if_exited(me)
    message = me._mailbox.take(timeout, match)
    if message is TIMED_OUT:
        if me._reason is not _ALIVE:
            raise ProcessExit(me._reason)
        raise ReceiveTimeout(f"receive in {me!r} got no matching message in {timeout}s")
    return message


def _add_link(a: Pid, b: Pid) -> None:
    if a._links is None:
        a._links = set()
    if b._links is None:
        b._links = set()
    a._links.add(b)
    b._links.add(a)


def link(dest: Pid | str) -> None:
    """Link the caller and ``dest`` both ways. Never blocks.

    When either exits, the other gets an exit signal with its reason. Linking to a
    process that has already exited delivers the exit reason ``'noproc'`` to the
    caller: an ``Exit`` message if it traps exits, otherwise it exits too.
    OTP: ``erlang:link/1``.
    """
    me = self_pid()
    pid = resolve(dest)
    if pid is None:
        raise NoProc(f"link to {dest!r} failed: no process has that name")
    if pid._reason is not _ALIVE:
        _signal(me, pid, "noproc")
        _unwind_if_exited(me)
    elif pid is not me:
        _add_link(me, pid)


def unlink(dest: Pid | str) -> None:
    """Remove the link between the caller and ``dest``, if any. Never blocks."""
    me = self_pid()
    pid = resolve(dest)
    if pid is None:
        return
    if me._links is not None:
        me._links.discard(pid)
    if pid._links is not None:
        pid._links.discard(me)


def _add_monitor(watcher: Pid, target: Pid | None, label: Pid | str = "") -> Ref:
    ref = Ref()
    if target is None or target._reason is not _ALIVE:
        watcher._mailbox.put(Down(ref, target or label, "noproc"))
        return ref
    if target._monitors is None:
        target._monitors = {}
    if watcher._watching is None:
        watcher._watching = {}
    target._monitors[ref] = watcher
    watcher._watching[ref] = target
    return ref


def monitor(dest: Pid | str) -> Ref:
    """Watch ``dest``: the caller gets ``Down(ref, pid, reason)`` once it exits.

    Monitoring a process that has exited, or a name nobody has, delivers
    ``Down(ref, dest, 'noproc')`` at once. Never blocks. OTP: ``erlang:monitor/2``.
    """
    return _add_monitor(self_pid(), resolve(dest), dest)


def demonitor(ref: Ref, flush: bool = False) -> bool:
    """Stop the monitor ``ref``; with ``flush``, also drop its ``Down`` if queued.

    Returns whether the monitor was still active. Never blocks.
    OTP: ``erlang:demonitor/2``.
    """
    if not isinstance(ref, Ref):
        raise TypeError(f"demonitor needs the Ref from monitor, got {short_repr(ref)}")
    me = self_pid()
    target = me._watching.pop(ref, None) if me._watching else None
    if target is not None and target._monitors is not None:
        target._monitors.pop(ref, None)
    if flush:
        me._mailbox.remove(lambda m: type(m) is Down and m.ref is ref)
    return target is not None


def flush_messages(match: Callable[[Any], bool]) -> int:
    """Drop every message in the caller's mailbox that ``match`` accepts.

    Returns how many were dropped. One pass over the mailbox. Never blocks.
    """
    return self_pid()._mailbox.remove_all(match)


def trap_exit(flag: bool) -> bool:
    """Turn exit trapping on or off for the caller and return the previous setting.

    While on, exit signals (except ``'kill'``) arrive as ``Exit(pid, reason)``
    messages instead of making the caller exit. Never blocks.
    OTP: ``process_flag(trap_exit, Flag)``.
    """
    if not isinstance(flag, bool):
        raise TypeError(f"trap_exit needs True or False, got {short_repr(flag)}")
    me = self_pid()
    previous = me._trap
    me._trap = flag
    return previous


def exit(dest: Pid | str, reason: Reason) -> None:
    """Send an exit signal with ``reason`` to ``dest``. Never blocks.

    ``'kill'`` cannot be trapped: the process exits with ``'killed'``. Otherwise a
    process that traps exits gets an ``Exit`` message; one that does not exits with
    ``reason``, unless it is ``'normal'`` (ignored, except by the caller itself).
    An exit signal to a process that has exited does nothing.
    OTP: ``erlang:exit/2``.

    Raises:
        NoProc: ``dest`` is a name that no process has.
    """
    pid = resolve(dest)
    if pid is None:
        raise NoProc(f"exit signal to {dest!r} failed: no process has that name")
    me = self_pid()
    if isinstance(reason, str) and reason == "kill":
        _kill(pid, "killed")
    else:
        _signal(pid, me, reason)
    _unwind_if_exited(me)


def kill_linked(root: Pid, spare: Pid) -> None:
    """Kill ``root`` and every process linked to it, directly or through
    others, except ``spare`` (and what is reachable only through it).

    Used on a supervision tree whose orderly shutdown ran out of time: a
    child that traps exits would otherwise outlive its killed supervisor.
    Never blocks.
    """
    seen = {spare, root}
    todo = [root]
    while todo:
        pid = todo.pop()
        for other in pid._links or ():
            if other not in seen:
                seen.add(other)
                todo.append(other)
        _kill(pid, "killed")


def _signal(target: Pid, sender: Pid, reason: Reason) -> None:
    """Deliver an exit signal; never blocks, never raises (hub-safe)."""
    if target._reason is not _ALIVE:
        return
    if target._trap:
        target._mailbox.put(Exit(sender, reason))
    elif kills_links(reason) or sender is target:
        _kill(target, reason, sender)


def _kill(target: Pid, reason: Reason, sender: Pid | None = None) -> None:
    """Make ``target`` exit with ``reason`` now and unwind its greenlet soon."""
    glet = target._greenlet
    if not _exit_process(target, reason):
        return
    if glet is None or glet is getcurrent():
        return  # the caller unwinds itself: see _unwind_if_exited
    exc = ProcessExit(reason, sender if sender is not target else None)
    if isinstance(glet, gevent.Greenlet):
        glet.kill(exc, block=False)
    elif glet:
        get_hub().loop.run_callback(_throw, glet, exc)


def _throw(glet: greenlet, exc: ProcessExit) -> None:
    # Hub callback: switches into the dying greenlet to unwind it; the user code
    # that runs (except and finally blocks) runs in that greenlet, not here.
    if glet and not glet.dead:
        glet.throw(exc)


def _unwind_if_exited(me: Pid) -> None:
    if me._reason is not _ALIVE:
        raise ProcessExit(me._reason)


def _exit_process(pid: Pid, reason: Reason) -> bool:
    """Record that ``pid`` exited and tell everyone who asked. Never blocks.

    Returns False if it had already exited. Runs in processes and in hub
    callbacks, so it must not block, raise or run user code.
    """
    if pid._reason is not _ALIVE:
        return False
    pid._reason = reason
    pid._greenlet = None
    pid._mailbox.close()
    if pid._name is not None:
        _registry.remove(pid._name)
    if pid._on_exit:
        hooks, pid._on_exit = pid._on_exit, None
        for cleanup in hooks:
            cleanup()
    if pid._watching:
        for ref, target in pid._watching.items():
            if target._monitors is not None:
                target._monitors.pop(ref, None)
        pid._watching = None
    if pid._monitors:
        for ref, watcher in pid._monitors.items():
            if watcher._watching is not None:
                watcher._watching.pop(ref, None)
            watcher._mailbox.put(Down(ref, pid, reason))
        pid._monitors = None
    if pid._waiting:
        for slot in pid._waiting:
            slot.answer(Exited(reason))
        pid._waiting = None
    if pid._links:
        links, pid._links = pid._links, None
        for other in links:
            if other._links is not None:
                other._links.discard(pid)
            _signal(other, pid, reason)
    return True


def add_exit_hook(pid: Pid, cleanup: Callable[[], None]) -> None:
    """Run ``cleanup`` (greensup's own, non-blocking) when ``pid`` exits."""
    if pid._on_exit is None:
        pid._on_exit = set()
    pid._on_exit.add(cleanup)


def remove_exit_hook(pid: Pid, cleanup: Callable[[], None]) -> None:
    """Undo :func:`add_exit_hook`."""
    if pid._on_exit is not None:
        pid._on_exit.discard(cleanup)


def register(name: str, pid: Pid | None = None) -> None:
    """Register ``pid`` (the caller by default) under ``name``. Never blocks.

    The name is freed when the process exits. OTP: ``erlang:register/2``.

    Raises:
        AlreadyRegistered: the name is taken or the process has a name.
        NoProc: the process is not alive.
        TypeError: ``name`` is not a non-empty str.
    """
    _registry.check_name(name)
    pid = self_pid() if pid is None else pid
    if type(pid) is not Pid:
        raise TypeError(f"register needs a Pid, got {short_repr(pid)}")
    if pid._reason is not _ALIVE:
        raise NoProc(f"cannot register {pid!r} as {name!r}: the process is not alive")
    _registry.add(name, pid)


def unregister(name: str) -> None:
    """Free ``name``. Never blocks. OTP: ``erlang:unregister/1``.

    Raises:
        NoProc: no process has the name.
    """
    _registry.remove(_registry.check_name(name))


def whereis(name: str) -> Pid | None:
    """Return the pid registered as ``name``, or None. Never blocks."""
    return _registry.lookup(_registry.check_name(name))


def registered() -> list[str]:
    """Return the registered names, a snapshot. Never blocks."""
    return _registry.names()

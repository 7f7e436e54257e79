"""GenServer: a process that serves calls and casts from state kept on an instance.

The server loop takes messages in order: calls are answered with what
``handle_call`` returns, casts go to ``handle_cast``, everything else to
``handle_info``. ``terminate`` runs when the server is stopped, raises ``Stop``,
crashes in a callback, or traps exits and gets an exit signal from its parent.
A caller never waits in vain: its reply slot is answered when the server exits.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from greensup._errors import CallTimeout, ServerExit, StartError
from greensup._mailbox import TIMED_OUT
from greensup._process import (
    CRASHES,
    Pid,
    ProcessExit,
    check_timeout,
    register,
    require_alive,
    resolve,
    self_pid,
    spawn,
    spawn_link,
    unlink,
)
from greensup._reply import Exited, ReplySlot, forget
from greensup._reports import crash_log, report
from greensup._types import ChildSpec, Exit, Reason, is_normal, short_repr

__all__ = [
    "Caller",
    "GenServer",
    "NoReply",
    "Stop",
    "call",
    "cast",
    "require_server",
    "stop",
]


class _NoReplyType:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NoReply"


#: Return this from ``handle_call`` to answer later with ``self.reply(caller, v)``.
NoReply: Any = _NoReplyType()
_NOTHING: Any = object()


class Stop(Exception):
    """Raise from any GenServer callback to stop the server cleanly.

    Args:
        reason: the exit reason; ``'normal'`` by default.
        reply: if given (in ``handle_call``), sent to the caller before stopping.
    """

    def __init__(self, reason: Reason = "normal", reply: Any = _NOTHING) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reply = reply


class Caller:
    """Who made a call: pass it to ``GenServer.reply`` to answer later.

    Attributes:
        pid: the calling process.
    """

    __slots__ = ("pid", "_slot")

    def __init__(self, pid: Pid, slot: ReplySlot) -> None:
        self.pid = pid
        self._slot = slot

    def __repr__(self) -> str:
        return f"<Caller {self.pid!r}>"


class _Call:
    __slots__ = ("request", "caller")

    def __init__(self, request: Any, caller: Caller) -> None:
        self.request = request
        self.caller = caller


class _Cast:
    __slots__ = ("request",)

    def __init__(self, request: Any) -> None:
        self.request = request


class _StopRequest:
    __slots__ = ("reason",)

    def __init__(self, reason: Reason) -> None:
        self.reason = reason


class _Ack:
    __slots__ = ()


_ACK = _Ack()


class GenServer:
    """Base class of a server process; subclass it and override the callbacks.

    Every callback runs in the server's own process, one message at a time.
    OTP: ``gen_server``.

    Attributes:
        pid: the server's own pid, set before ``init`` runs.
    """

    pid: Pid
    _parent: Pid | None
    _callbacks: ClassVar[tuple[str, ...]] = ("handle_cast", "handle_info")

    # -- callbacks ----------------------------------------------------------

    def init(self, *args: Any, **kwargs: Any) -> None:
        """Set up the state; runs in the new process before ``start`` returns.

        Receives the arguments given to ``start``/``start_link`` (except
        ``name``). If it raises, ``start`` raises ``StartError`` with the
        exception chained and the process exits; raising ``Stop`` does the same.
        """

    def handle_call(self, request: Any, caller: Caller) -> Any:
        """Answer a ``call``: return the reply, or ``NoReply`` to answer later.

        If it raises, the server crashes: ``terminate`` runs, the crash is
        logged and the caller gets ``ServerExit``.
        """
        raise NotImplementedError(
            f"{type(self).__name__} got call {short_repr(request)} "
            f"but does not define handle_call"
        )

    def handle_cast(self, request: Any) -> None:
        """Handle a ``cast``; the return value must be None."""
        raise NotImplementedError(
            f"{type(self).__name__} got cast {short_repr(request)} "
            f"but does not define handle_cast"
        )

    def handle_info(self, msg: Any) -> None:
        """Handle any other message (``Down``, ``Exit``, timer messages).

        The default logs the message at WARNING and carries on.
        """
        crash_log.warning(
            "%r %s got an unexpected message: %s",
            self.pid,
            type(self).__name__,
            short_repr(msg, 200),
        )

    def terminate(self, reason: Reason) -> None:
        """Clean up before exiting with ``reason``.

        Runs in the server's process on ``stop()``, on ``Stop``, on a crash in a
        callback, and on an exit signal from the parent while trapping exits. It
        does not run when the server is killed or, not trapping exits, is taken
        down by a linked process. If it raises, that exception becomes the reason.
        """

    # -- client API ---------------------------------------------------------

    @classmethod
    def start(cls, *args: Any, name: str | None = None, **kwargs: Any) -> Pid:
        """Start a server process, unlinked; blocks until its ``init`` returns.

        Args:
            *args: passed to ``init``.
            name: register the server under this name.
            **kwargs: passed to ``init``.

        Returns:
            The server's pid.

        Raises:
            StartError: ``init`` raised or the name is taken; no process is left.

        OTP: ``gen_server:start/4``.
        """
        return _start(cls, args, kwargs, name, link=False)

    @classmethod
    def start_link(cls, *args: Any, name: str | None = None, **kwargs: Any) -> Pid:
        """Start a server process linked to the caller, its parent.

        Blocks until ``init`` returns; see ``start``. OTP: ``gen_server:start_link/4``.
        """
        return _start(cls, args, kwargs, name, link=True)

    @classmethod
    def child_spec(cls, *args: Any, **kwargs: Any) -> ChildSpec:
        """Return a child spec that starts this server with ``start_link``.

        Never blocks.

        The id is the class; ``name=`` is passed on to ``start_link``.
        """
        return ChildSpec(id=cls, start=cls.start_link, args=args, kwargs=kwargs)

    def reply(self, caller: Caller, value: Any) -> None:
        """Answer ``caller`` with ``value`` (after ``handle_call`` returned
        ``NoReply``). May be called from any process. Never blocks.

        OTP: ``gen_server:reply/2``.
        """
        if not isinstance(caller, Caller):
            raise TypeError(f"reply needs the caller object, got {short_repr(caller)}")
        caller._slot.answer(value)

    def __repr__(self) -> str:
        pid = getattr(self, "pid", None)
        return f"<{type(self).__name__} {pid!r}>"


def _start(
    cls: type[GenServer],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str | None,
    link: bool,
) -> Pid:
    if not (isinstance(cls, type) and issubclass(cls, GenServer)):
        raise TypeError(f"start needs a GenServer subclass, got {short_repr(cls)}")
    parent = self_pid() if link else None
    slot = ReplySlot()
    pid = (spawn_link if link else spawn)(_serve, cls, args, kwargs, name, parent, slot)
    slot.wait_on(pid)

    answer = slot.wait(None)

    if answer is _ACK:
        return pid
    reason = answer.reason if isinstance(answer, Exited) else answer
    message = f"start of {cls.__name__} failed: {_describe(reason)}"
    error = StartError(message, reason)
    if isinstance(reason, BaseException):
        raise error from reason
    raise error


def _describe(reason: Reason) -> str:
    if isinstance(reason, StartError):
        return str(reason)
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}" if str(reason) else repr(reason)
    return f"exited with {short_repr(reason)}"


def _serve(
    cls: type[GenServer],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str | None,
    parent: Pid | None,
    slot: ReplySlot,
) -> None:
    me = self_pid()
    me._behaviour = cls
    server = cls.__new__(cls)
    server.pid = me
    server._parent = parent

    failure = _init(server, me, name, args, kwargs)
    if failure is not None:
        if parent is not None:
            unlink(parent)  # a failed start is reported to the starter, not linked
        raise ProcessExit(failure)
    forget(slot, me)
    slot.answer(_ACK)

    reason = _loop(server, me)
    if not (isinstance(reason, str) and reason == "normal"):
        raise ProcessExit(reason)


def _init(
    server: GenServer,
    me: Pid,
    name: str | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Reason | None:
    """Register and run ``init``; return why the start failed, or None."""
    if name is not None:
        try:
            register(name, me)
        except CRASHES as exc:
            return exc
    try:
        result = server.init(*args, **kwargs)  # type: ignore[func-returns-value]
    except Stop as stop:
        return stop.reason
    except CRASHES as exc:
        return exc
    if result is not None:
        return TypeError(
            f"{type(server).__name__}.init returned {short_repr(result)}; "
            f"it must return None (keep state on self)"
        )
    return None


def _loop(server: GenServer, me: Pid) -> Reason:
    """Serve messages until the server stops; return the exit reason."""
    # The hottest loop in greensup: callbacks are looked up once, and a
    # callback's result is checked inline rather than through a helper.
    take = me._mailbox.take
    handle_cast = server.handle_cast
    handle_info = server.handle_info
    while True:
        msg = take(None)
        kind = type(msg)
        try:
            if kind is _Cast:
                result = handle_cast(msg.request)
                if result is not None:
                    _bad_return(server, "handle_cast", result)
            elif kind is _Call:
                _handle_call(server, msg)
            elif kind is _StopRequest:
                return _terminate(server, msg.reason)
            elif kind is Exit and msg.pid is server._parent and me._trap:
                return _terminate(server, msg.reason)
            else:
                result = handle_info(msg)
                if result is not None:
                    _bad_return(server, "handle_info", result)
        except Stop as stop:
            return _terminate(server, stop.reason)
        except CRASHES as exc:
            _crash(server, exc)


def _handle_call(server: GenServer, msg: _Call) -> None:
    try:
        result = server.handle_call(msg.request, msg.caller)
    except Stop as stop:
        if stop.reply is not _NOTHING:
            msg.caller._slot.answer(stop.reply)
        raise
    if result is NoReply:
        return
    if isinstance(result, Stop):
        raise TypeError(
            f"{type(server).__name__}.handle_call returned a Stop; raise it instead"
        )
    msg.caller._slot.answer(result)


def _bad_return(server: GenServer, callback: str, result: object) -> None:
    raise TypeError(
        f"{type(server).__name__}.{callback} returned {short_repr(result)}; "
        f"it must return None (raise Stop to stop)"
    )


def _terminate(server: GenServer, reason: Reason) -> Reason:
    """Run ``terminate(reason)``; return ``reason`` to exit with."""
    try:
        server.terminate(reason)
    except CRASHES as exc:
        _crash_exit(server, exc)
    if not is_normal(reason):
        report(
            crash_log,
            logging.ERROR,
            "crash report",
            {"pid": server.pid, "server": type(server).__name__, "reason": reason},
        )
    return reason


def _crash(server: GenServer, exc: BaseException) -> None:
    """A callback raised: run ``terminate`` and exit with the exception."""
    try:
        server.terminate(exc)
    except CRASHES as terminate_exc:
        _crash_exit(server, terminate_exc)
    _crash_exit(server, exc)


def _crash_exit(server: GenServer, exc: BaseException) -> None:
    report(
        crash_log,
        logging.ERROR,
        "crash report",
        {"pid": server.pid, "server": type(server).__name__, "reason": exc},
        exc_info=exc,
    )
    raise ProcessExit(exc)


def call(server: Pid | str, request: Any, timeout: float | None = 5.0) -> Any:
    """Send ``request`` to ``server`` and block until it replies.

    Args:
        server: a Pid or a registered name.
        request: passed to ``handle_call``.
        timeout: seconds to wait for the reply; None waits for ever. A reply that
            comes later is dropped; it never reaches the caller's mailbox.

    Returns:
        The reply.

    Raises:
        NoProc: the server is not alive.
        CallTimeout: no reply within ``timeout``.
        ServerExit: the server exited before it replied.
        ValueError: the caller is the server itself (it would wait for ever).

    OTP: ``gen_server:call/3``.
    """
    check_timeout(timeout)
    target = require_server(server, "call to")
    me = self_pid()
    if target is me:
        raise ValueError(f"call to {server!r} from itself would never be answered")
    slot = ReplySlot()
    slot.wait_on(target)
    target._mailbox.put(_Call(request, Caller(me, slot)))

    try:
        answer = slot.wait(timeout)
    finally:
        forget(slot, target)

    if answer is TIMED_OUT:
        raise CallTimeout(f"call to {_who(server, target)} timed out after {timeout}s")
    if type(answer) is Exited:
        raise ServerExit(
            f"call to {_who(server, target)} failed: the server exited with "
            f"{short_repr(answer.reason, 120)}",
            answer.reason,
        )
    return answer


def _who(server: Pid | str, target: Pid) -> str:
    return f"{server!r} {target!r}" if isinstance(server, str) else repr(target)


def require_server(
    server: Pid | str,
    action: str,
    kind: type[GenServer] | None = None,
    label: str = "GenServer",
) -> Pid:
    """Return the live pid of the ``kind`` (any GenServer by default) that
    ``server`` names, or raise ``NoProc`` or ``TypeError`` naming ``action``."""
    target = require_alive(server, action)
    behaviour = target._behaviour
    if behaviour is None or not issubclass(behaviour, kind or GenServer):
        what = "a plain process" if behaviour is None else behaviour.__name__
        raise TypeError(f"{action} {server!r} failed: it is {what}, not a {label}")
    return target


def cast(server: Pid | str, request: Any) -> None:
    """Send ``request`` to ``server``'s ``handle_cast``; never raises for a
    server that is not alive. Never blocks. OTP: ``gen_server:cast/2``.

    Raises:
        TypeError: ``server`` is neither a Pid nor a name.
    """
    target = server if type(server) is Pid else resolve(server)
    if target is not None:
        target._mailbox.put(_Cast(request))


def stop(
    server: Pid | str, reason: Reason = "normal", timeout: float | None = None
) -> None:
    """Stop ``server`` with ``reason``; blocks until its ``terminate`` has run
    and it has exited.

    Args:
        server: a Pid or a registered name of a GenServer (supervisors included).
        reason: the exit reason.
        timeout: seconds to wait; None waits for ever.

    Raises:
        NoProc: the server is not alive.
        CallTimeout: it did not exit within ``timeout``.
        ServerExit: it exited with another reason (``terminate`` raised).
        ValueError: the caller is the server (raise ``Stop`` instead).

    OTP: ``gen_server:stop/3``.
    """
    check_timeout(timeout)
    target = require_server(server, "stop of")
    if target is self_pid():
        raise ValueError(f"stop of {server!r} from itself: raise Stop instead")
    slot = ReplySlot()
    slot.wait_on(target)
    target._mailbox.put(_StopRequest(reason))

    try:
        answer = slot.wait(timeout)
    finally:
        forget(slot, target)

    if answer is TIMED_OUT:
        raise CallTimeout(f"stop of {_who(server, target)} timed out after {timeout}s")
    exited_with = answer.reason if type(answer) is Exited else reason
    if exited_with is not reason and exited_with != reason:
        raise ServerExit(
            f"stop of {_who(server, target)} failed: the server exited with "
            f"{short_repr(exited_with, 120)}",
            exited_with,
        )

"""The machinery every supervisor shares: child records, starting a child,
restart intensity, shutting children down within their shutdown times, the
reports, and the snapshots for people (``which_children`` rows, the tree).

:class:`Supervisor` and :class:`DynamicSupervisor` build on
:class:`SupervisorBase`; the client functions reach them through
:func:`request`, which checks that it talks to a supervisor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from greensup._errors import GreensupError, StartError
from greensup._genserver import GenServer, Stop, call, require_server
from greensup._process import (
    Pid,
    flush_messages,
    monitor,
    receive,
    trap_exit,
)
from greensup._process import exit as exit_signal
from greensup._reports import report, supervisor_log
from greensup._types import (
    ChildSpec,
    Down,
    Exit,
    Reason,
    check_seconds,
    is_normal,
    short_repr,
)

__all__ = [
    "Child",
    "ChildInfo",
    "SupervisorBase",
    "TreeNode",
    "check_intensity",
    "format_tree",
    "request",
    "show_id",
    "supervision_tree",
    "to_spec",
]


class Child:
    """A supervisor's record of one child: its spec, current pid, restarts."""

    __slots__ = ("spec", "pid", "restarts")

    def __init__(self, spec: ChildSpec, pid: Pid | None = None) -> None:
        self.spec = spec
        self.pid = pid
        self.restarts = 0


@dataclass(frozen=True)
class ChildInfo:
    """One row of ``which_children``; unpacks as ``(id, pid, type, restart)``."""

    id: Hashable
    pid: Pid | None
    type: str
    restart: str

    def __iter__(self) -> Any:
        return iter((self.id, self.pid, self.type, self.restart))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple):
            return tuple(self) == other
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class TreeNode:
    """A snapshot of a supervision tree, for people: see ``format_tree``.

    Attributes:
        id: the child id (the root's is its name or pid).
        pid: the process, or None for a child that is not running.
        type: ``'supervisor'`` or ``'worker'``.
        restarts: restarts of this child since its supervisor started.
        recent_restarts: for a supervisor, restarts within its current window.
        children: the children of a supervisor, in start order.
    """

    id: Hashable
    pid: Pid | None
    type: str
    restarts: int = 0
    recent_restarts: int = 0
    children: tuple[TreeNode, ...] = ()

    def format(self, indent: str = "") -> str:
        """Return the tree as indented text, one line per process. Never blocks."""
        if isinstance(self.id, type):
            ident = self.id.__name__
        elif isinstance(self.id, str) and not indent:
            ident = self.id  # the root's registered name
        else:
            ident = short_repr(self.id)
        where = repr(self.pid) if self.pid is not None else "not running"
        line = f"{indent}{where}" if self.id is self.pid else f"{indent}{ident} {where}"
        line += f" {self.type} restarts={self.restarts}"
        if self.type == "supervisor":
            line += f" recent={self.recent_restarts}"
        lines = [line]
        lines += [child.format(indent + "  ") for child in self.children]
        return "\n".join(lines)


def to_spec(child: object) -> ChildSpec:
    """Turn a child given to a supervisor into a ChildSpec, or raise TypeError."""
    if isinstance(child, ChildSpec):
        return child
    if isinstance(child, type) and issubclass(child, GenServer):
        return child.child_spec()
    if (
        isinstance(child, tuple)
        and len(child) == 2
        and isinstance(child[0], type)
        and issubclass(child[0], GenServer)
    ):
        return child[0].child_spec(child[1])
    raise TypeError(
        f"a child must be a ChildSpec, a GenServer class or a (GenServer class, "
        f"arg) pair, got {short_repr(child)}"
    )


def check_intensity(max_restarts: object, max_seconds: object) -> None:
    if isinstance(max_restarts, bool) or not isinstance(max_restarts, int):
        raise TypeError(f"max_restarts must be an int, got {short_repr(max_restarts)}")
    if max_restarts < 0:
        raise ValueError(f"max_restarts must not be negative, got {max_restarts}")
    check_seconds(max_seconds, "max_seconds", positive=True)


class SupervisorBase(GenServer):
    """What every supervisor does: start, restart within limits, shut down."""

    _max_restarts: int
    _max_seconds: float
    _restart_times: list[float]

    def _setup(self, max_restarts: int, max_seconds: float) -> None:
        trap_exit(True)
        self._max_restarts = max_restarts
        self._max_seconds = float(max_seconds)
        self._restart_times = []

    @property
    def _label(self) -> Any:
        name = self.pid._name
        return name if name is not None else self.pid

    # -- starting ------------------------------------------------------------

    def _start_child(self, spec: ChildSpec) -> Pid:
        """Start ``spec``'s process, linked to this supervisor; raise StartError."""
        try:
            pid = spec.start(*spec.args, **(spec.kwargs or {}))
        except Exception as exc:
            self._report("start_error", spec.id, None, exc, "none")
            raise StartError(
                f"child {show_id(spec.id)} of supervisor {self._label} failed to "
                f"start: {_cause(exc)}",
                exc,
            ) from exc
        if not isinstance(pid, Pid):
            error = TypeError(
                f"start function of child {show_id(spec.id)} returned "
                f"{short_repr(pid)}; it must return the Pid of a linked process"
            )
            self._report("start_error", spec.id, None, error, "none")
            raise StartError(str(error), error) from error
        if pid.alive and self.pid not in (pid._links or ()):
            error = TypeError(
                f"start function of child {show_id(spec.id)} returned {pid!r}, "
                f"which is not linked to its supervisor; use start_link or spawn_link"
            )
            self._report("start_error", spec.id, pid, error, "none")
            raise StartError(str(error), error) from error
        self._progress(spec.id, pid)
        return pid

    # -- requests --------------------------------------------------------------

    def _child_list(self) -> list[Child]:
        raise NotImplementedError

    def handle_call(self, request: Any, caller: Any) -> Any:
        handler = None
        if isinstance(request, tuple) and len(request) == 2:
            handler = getattr(self, "_do_" + str(request[0]), None)
        if handler is None:
            # Only a caller outside greensup sends anything else: it gets the
            # error as its reply, and the supervisor carries on.
            return ValueError(
                f"supervisor {self._label} does not understand {short_repr(request)}"
            )
        try:
            return handler(request[1])
        except (GreensupError, ValueError, TypeError) as exc:
            return _Failure(exc)

    def _do_count_children(self, _: None) -> dict[str, int]:
        return _count(self._child_list())

    def _do_tree(self, _: None) -> TreeNode:
        return TreeNode(
            id=self._label,
            pid=self.pid,
            type="supervisor",
            recent_restarts=self._recent_restarts(),
            children=tuple(_child_node(c) for c in self._child_list()),
        )

    # -- restart intensity -----------------------------------------------------

    def _add_restart(self) -> bool:
        """Count one restart; False when it goes past the restart intensity."""
        now = time.monotonic()
        window_start = now - self._max_seconds
        times = [t for t in self._restart_times if t > window_start]
        times.append(now)
        self._restart_times = times
        return len(times) <= self._max_restarts

    def _recent_restarts(self) -> int:
        window_start = time.monotonic() - self._max_seconds
        return sum(1 for t in self._restart_times if t > window_start)

    def _restart(
        self,
        child: Child,
        pid: Pid,
        reason: Reason,
        restart: Callable[[Child], None],
    ) -> None:
        """Report ``child``'s exit and ``restart`` it, counting every attempt
        (a start that fails counts too) against the restart intensity."""
        if not self._add_restart():
            self._report_exit(child, pid, reason, "shutdown")
            self._give_up(child.spec.id, pid, reason)
        self._report_exit(child, pid, reason, "restart")
        while True:
            try:
                restart(child)
                return
            except StartError as exc:
                reason = exc.reason
            if not self._add_restart():
                self._give_up(child.spec.id, pid, reason)

    def _give_up(self, child_id: Hashable, pid: Pid, reason: Reason) -> None:
        self._report("reached_max_restart_intensity", child_id, pid, reason, "shutdown")
        raise Stop("shutdown")

    # -- shutting down -----------------------------------------------------------

    def _shutdown(self, children: list[Child]) -> None:
        """Stop ``children`` at once, each within its own shutdown time.

        Each is monitored first, so its exit is seen as ``Down``, and its
        ``Exit`` messages are dropped at the end: a child that exited by itself
        meanwhile is no error.
        """
        running = [child for child in children if child.pid is not None]
        pids = {child.pid for child in running}
        refs = [monitor(child.pid) for child in running if child.pid is not None]

        waiting: dict[Any, tuple[Child, float | None]] = {}
        now = time.monotonic()
        for child, ref in zip(running, refs, strict=True):
            assert child.pid is not None, "only running children are shut down"
            shutdown = child.spec.shutdown
            if shutdown == "brutal_kill":
                exit_signal(child.pid, "kill")
                deadline = None
            else:
                exit_signal(child.pid, "shutdown")
                deadline = (
                    None if shutdown == "infinity" else now + float(shutdown or 0)
                )
            waiting[ref] = (child, deadline)
        # The links stay while children stop, so that none can outlive a
        # supervisor killed meanwhile; their Exit messages are dropped.
        self._wait_for_downs(waiting, pids)
        flush_messages(lambda m: type(m) is Exit and m.pid in pids)

    def _wait_for_downs(
        self, waiting: dict[Any, tuple[Child, float | None]], pids: set[Any]
    ) -> None:
        def wanted(m: Any) -> bool:
            kind = type(m)
            return (kind is Down and m.ref in waiting) or (
                kind is Exit and m.pid in pids
            )

        def next_deadline() -> float | None:
            deadlines = [d for _, d in waiting.values() if d is not None]
            return min(deadlines) if deadlines else None

        # The earliest deadline only moves later as children go, so it is
        # computed again only when it passes, not for every Down.
        deadline = next_deadline()
        while waiting:
            timeout = None
            if deadline is not None:
                timeout = max(deadline - time.monotonic(), 0.0)
            try:
                msg = receive(timeout, wanted)
            except TimeoutError:
                self._kill_overdue(waiting)
                deadline = next_deadline()
                continue
            if type(msg) is Down:
                child, _ = waiting.pop(msg.ref)
                self._shut_down(child, msg.reason)

    def _kill_overdue(self, waiting: dict[Any, tuple[Child, float | None]]) -> None:
        now = time.monotonic()
        for ref, (child, deadline) in list(waiting.items()):
            if deadline is not None and deadline <= now:
                assert child.pid is not None, "a child being shut down has a pid"
                self._report(
                    "shutdown_timeout",
                    child.spec.id,
                    child.pid,
                    f"no exit within {child.spec.shutdown}s",
                    "killed",
                    level=logging.WARNING,
                )
                exit_signal(child.pid, "kill")
                waiting[ref] = (child, None)

    def _shut_down(self, child: Child, reason: Reason) -> None:
        if reason not in ("shutdown", "killed", "normal", "noproc") and not is_normal(
            reason
        ):
            self._report("shutdown_error", child.spec.id, child.pid, reason, "none")
        child.pid = None

    # -- reports -----------------------------------------------------------------

    def _report(
        self,
        error: str,
        child_id: Hashable,
        pid: Pid | None,
        reason: Reason,
        action: str,
        level: int = logging.ERROR,
    ) -> None:
        report(
            supervisor_log,
            level,
            "supervisor report",
            {
                "supervisor": self._label,
                "error": error,
                "child_id": show_id(child_id),
                "pid": pid,
                "reason": reason,
                "action": action,
            },
        )

    def _progress(self, child_id: Hashable, pid: Pid) -> None:
        report(
            supervisor_log,
            logging.INFO,
            "progress report",
            {"supervisor": self._label, "child_id": show_id(child_id), "pid": pid},
        )

    def _report_exit(self, child: Child, pid: Pid, reason: Reason, action: str) -> None:
        if is_normal(reason):
            self._report(
                "child_exited", child.spec.id, pid, reason, action, level=logging.DEBUG
            )
        else:
            self._report("child_terminated", child.spec.id, pid, reason, action)


def show_id(child_id: Hashable) -> str:
    return child_id.__name__ if isinstance(child_id, type) else repr(child_id)


def _cause(exc: BaseException) -> str:
    if exc.__cause__ is not None and isinstance(exc, StartError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc)


class _Failure:
    """An error to raise in the caller rather than crash the supervisor."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def request(sup: Pid | str, kind: str, arg: Any) -> Any:
    require_server(sup, "supervisor request to", SupervisorBase, "supervisor")
    answer = call(sup, (kind, arg), timeout=None)
    if isinstance(answer, _Failure):
        raise answer.error
    return answer


def _count(children: Iterable[Child]) -> dict[str, int]:
    counts = {"specs": 0, "active": 0, "supervisors": 0, "workers": 0}
    for child in children:
        counts["specs"] += 1
        counts["active"] += child.pid is not None
        counts["supervisors" if child.spec.type == "supervisor" else "workers"] += 1
    return counts


def _child_node(child: Child) -> TreeNode:
    if child.spec.type == "supervisor" and child.pid is not None:
        try:
            sub = call(child.pid, ("tree", None), timeout=5.0)
        except Exception:
            sub = None
        if isinstance(sub, TreeNode):
            return TreeNode(
                id=child.spec.id,
                pid=child.pid,
                type="supervisor",
                restarts=child.restarts,
                recent_restarts=sub.recent_restarts,
                children=sub.children,
            )
    return TreeNode(child.spec.id, child.pid, child.spec.type, child.restarts)


def supervision_tree(sup: Pid | str) -> TreeNode:
    """Return a snapshot of the whole tree under ``sup``; blocks while each
    supervisor in it answers."""
    return cast(TreeNode, request(sup, "tree", None))


def format_tree(sup: Pid | str) -> str:
    """Return the supervision tree under ``sup`` as indented text; blocks while
    each supervisor in it answers."""
    return supervision_tree(sup).format()

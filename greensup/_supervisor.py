"""Supervisor: starts children in order, restarts them by strategy, stops them in
reverse order, and gives up when restarts come too fast.

A supervisor is a GenServer that traps exits. A child's exit arrives as an
``Exit`` message; the restart type and the exit reason decide whether it is
restarted, the strategy decides which siblings are restarted with it, and the
restart intensity (``max_restarts`` within ``max_seconds``) decides when the
supervisor stops all its children and exits with ``'shutdown'`` instead.

The machinery shared with :class:`DynamicSupervisor` (starting a child, restart
intensity, shutting children down, reports) lives in :class:`SupervisorBase`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from greensup._errors import AlreadyStarted, GreensupError, NotFound, StartError
from greensup._genserver import GenServer, Stop, call, require_server, stop
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
    STRATEGIES,
    ChildSpec,
    Down,
    Exit,
    Reason,
    Strategy,
    check_seconds,
    is_normal,
    short_repr,
)

__all__ = ["Child", "ChildInfo", "SupervisorBase", "Supervisor", "TreeNode", "to_spec"]


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


def _check_intensity(max_restarts: object, max_seconds: object) -> None:
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
                f"child {_show_id(spec.id)} of supervisor {self._label} failed to "
                f"start: {_cause(exc)}",
                exc,
            ) from exc
        if not isinstance(pid, Pid):
            error = TypeError(
                f"start function of child {_show_id(spec.id)} returned "
                f"{short_repr(pid)}; it must return the Pid of a linked process"
            )
            self._report("start_error", spec.id, None, error, "none")
            raise StartError(str(error), error) from error
        if pid.alive and self.pid not in (pid._links or ()):
            error = TypeError(
                f"start function of child {_show_id(spec.id)} returned {pid!r}, "
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
                "child_id": _show_id(child_id),
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
            {"supervisor": self._label, "child_id": _show_id(child_id), "pid": pid},
        )

    def _report_exit(self, child: Child, pid: Pid, reason: Reason, action: str) -> None:
        if is_normal(reason):
            self._report(
                "child_exited", child.spec.id, pid, reason, action, level=logging.DEBUG
            )
        else:
            self._report("child_terminated", child.spec.id, pid, reason, action)


def _show_id(child_id: Hashable) -> str:
    return child_id.__name__ if isinstance(child_id, type) else repr(child_id)


def _cause(exc: BaseException) -> str:
    if exc.__cause__ is not None and isinstance(exc, StartError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc)


class Supervisor(SupervisorBase):
    """A supervisor of a fixed list of children. OTP: ``supervisor``.

    Start one with :meth:`start_link`; every other function takes the
    supervisor's pid or name and blocks until the supervisor answers.
    """

    _strategy: Strategy
    _children: list[Child]

    @classmethod
    def start_link(  # type: ignore[override]
        cls,
        children: Iterable[object],
        strategy: Strategy = "one_for_one",
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        name: str | None = None,
    ) -> Pid:
        """Start a supervisor linked to the caller, and its children in order.

        Blocks until every child has started.

        Args:
            children: ChildSpecs, GenServer classes or ``(GenServerClass, arg)``.
            strategy: ``'one_for_one'``, ``'one_for_all'`` or ``'rest_for_one'``.
            max_restarts: restarts allowed within ``max_seconds``; one more and
                the supervisor stops its children and exits with ``'shutdown'``.
            max_seconds: the length of the restart intensity window.
            name: register the supervisor under this name.

        Raises:
            StartError: a child failed to start; those already started were
                stopped in reverse order. The message names the child.
            TypeError: a child is not a spec, class or pair, or an option has
                the wrong type.
            ValueError: an option has a value outside its allowed set.
            AlreadyStarted: two children have the same id.

        OTP: ``supervisor:start_link/3``.
        """
        specs = _checked_specs(children, strategy, max_restarts, max_seconds)
        return super().start_link(specs, strategy, max_restarts, max_seconds, name=name)

    def init(
        self,
        specs: list[ChildSpec],
        strategy: Strategy,
        max_restarts: int,
        max_seconds: float,
    ) -> None:
        self._setup(max_restarts, max_seconds)
        self._strategy = strategy
        self._children = []
        for spec in specs:
            try:
                pid = self._start_child(spec)
            except StartError:
                self._shutdown(list(reversed(self._children)))
                raise
            self._children.append(Child(spec, pid))

    def _child_list(self) -> list[Child]:
        return self._children

    def terminate(self, reason: Reason) -> None:
        self._shutdown_in_order(self._children)

    def _shutdown_in_order(self, children: list[Child]) -> None:
        for child in reversed(children):
            self._shutdown([child])

    # -- exits and restarts -----------------------------------------------------

    def handle_info(self, msg: Any) -> None:
        if type(msg) is not Exit:
            return
        child = self._find_pid(msg.pid)
        if child is None:
            return  # an exit from a process that is no child of ours: ignored
        self._child_exited(child, msg.reason)

    def _child_exited(self, child: Child, reason: Reason) -> None:
        pid = child.pid
        assert pid is not None, "an exiting child had a pid"
        child.pid = None
        restart = child.spec.restart
        if restart == "temporary" or (restart == "transient" and is_normal(reason)):
            action = "remove" if restart == "temporary" else "none"
            self._report_exit(child, pid, reason, action)
            if restart == "temporary":
                self._children.remove(child)
            return
        self._restart(child, pid, reason, self._restart_by_strategy)

    def _restart_by_strategy(self, failed: Child) -> None:
        index = self._children.index(failed)
        if self._strategy == "one_for_one":
            affected = [failed]
        elif self._strategy == "one_for_all":
            affected = list(self._children)
        else:
            affected = self._children[index:]
        self._shutdown_in_order([c for c in affected if c is not failed])
        for child in affected:
            if child.pid is None:
                child.pid = self._start_child(child.spec)
                child.restarts += 1

    def _find_pid(self, pid: Pid) -> Child | None:
        for child in self._children:
            if child.pid is pid:
                return child
        return None

    def _find_id(self, child_id: Hashable) -> Child:
        for child in self._children:
            if child.spec.id == child_id:
                return child
        raise NotFound(
            f"supervisor {self._label} has no child with id {_show_id(child_id)}"
        )

    # -- requests ------------------------------------------------------------

    def _do_start_child(self, spec: ChildSpec) -> Pid:
        if any(c.spec.id == spec.id for c in self._children):
            raise AlreadyStarted(
                f"supervisor {self._label} already has a child with id "
                f"{_show_id(spec.id)}"
            )
        pid = self._start_child(spec)
        self._children.append(Child(spec, pid))
        return pid

    def _do_terminate_child(self, child_id: Hashable) -> None:
        child = self._find_id(child_id)
        self._shutdown([child])
        if child.spec.restart == "temporary":
            self._children.remove(child)

    def _do_restart_child(self, child_id: Hashable) -> Pid:
        child = self._find_id(child_id)
        if child.pid is not None:
            raise AlreadyStarted(
                f"child {_show_id(child_id)} of supervisor {self._label} is running"
            )
        child.pid = self._start_child(child.spec)
        return child.pid

    def _do_delete_child(self, child_id: Hashable) -> None:
        child = self._find_id(child_id)
        if child.pid is not None:
            raise ValueError(
                f"cannot delete child {_show_id(child_id)} of supervisor "
                f"{self._label}: it is running; terminate it first"
            )
        self._children.remove(child)

    def _do_which_children(self, _: None) -> list[ChildInfo]:
        return [
            ChildInfo(c.spec.id, c.pid, c.spec.type, c.spec.restart)
            for c in self._children
        ]

    # -- client API ------------------------------------------------------------

    @staticmethod
    def start_child(sup: Pid | str, spec: object) -> Pid:
        """Add a child and start it; blocks until it has started.

        Raises:
            AlreadyStarted: the supervisor has a child with that id.
            StartError: the child failed to start.

        OTP: ``supervisor:start_child/2``.
        """
        return cast(Pid, _request(sup, "start_child", to_spec(spec)))

    @staticmethod
    def terminate_child(sup: Pid | str, child_id: Hashable) -> None:
        """Stop a child, keeping its spec (a temporary child's is removed).

        Blocks until the child has exited.

        Raises:
            NotFound: no child has that id.

        OTP: ``supervisor:terminate_child/2``.
        """
        _request(sup, "terminate_child", child_id)

    @staticmethod
    def restart_child(sup: Pid | str, child_id: Hashable) -> Pid:
        """Start a stopped child again from its spec; blocks until it runs.

        Raises:
            NotFound: no child has that id.
            AlreadyStarted: the child is running.
            StartError: it failed to start.

        OTP: ``supervisor:restart_child/2``.
        """
        return cast(Pid, _request(sup, "restart_child", child_id))

    @staticmethod
    def delete_child(sup: Pid | str, child_id: Hashable) -> None:
        """Remove a stopped child's spec; blocks until the supervisor answers.

        Raises:
            NotFound: no child has that id.
            ValueError: the child is running.

        OTP: ``supervisor:delete_child/2``.
        """
        _request(sup, "delete_child", child_id)

    @staticmethod
    def which_children(sup: Pid | str) -> list[ChildInfo]:
        """Return ``(id, pid or None, type, restart)`` for each child, in start
        order: a snapshot. Blocks until the supervisor answers.

        OTP: ``supervisor:which_children/1``.
        """
        return cast("list[ChildInfo]", _request(sup, "which_children", None))

    @staticmethod
    def count_children(sup: Pid | str) -> dict[str, int]:
        """Return ``{'specs', 'active', 'supervisors', 'workers'}`` counts.

        Blocks until the supervisor answers.

        OTP: ``supervisor:count_children/1``.
        """
        return cast("dict[str, int]", _request(sup, "count_children", None))

    @staticmethod
    def stop(
        sup: Pid | str, reason: Reason = "normal", timeout: float | None = None
    ) -> None:
        """Stop the supervisor; blocks until every child has stopped, in reverse
        start order, and the supervisor has exited. See :func:`greensup.stop`."""
        stop(sup, reason, timeout)


class _Failure:
    """An error to raise in the caller rather than crash the supervisor."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _request(sup: Pid | str, kind: str, arg: Any) -> Any:
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
    return cast(TreeNode, _request(sup, "tree", None))


def format_tree(sup: Pid | str) -> str:
    """Return the supervision tree under ``sup`` as indented text; blocks while
    each supervisor in it answers."""
    return supervision_tree(sup).format()


def _checked_specs(
    children: Iterable[object],
    strategy: object,
    max_restarts: object,
    max_seconds: object,
) -> list[ChildSpec]:
    if strategy not in STRATEGIES:
        valid = ", ".join(repr(s) for s in STRATEGIES)
        raise ValueError(f"strategy must be one of {valid}; got {short_repr(strategy)}")
    _check_intensity(max_restarts, max_seconds)
    if isinstance(children, (str, bytes)) or not isinstance(children, Iterable):
        raise TypeError(
            f"children must be a list of child specs, got {short_repr(children)}"
        )
    specs = [to_spec(child) for child in children]
    seen: set[Hashable] = set()
    for spec in specs:
        if spec.id in seen:
            raise AlreadyStarted(
                f"two children have the id {_show_id(spec.id)}; give each its own id"
            )
        seen.add(spec.id)
    return specs

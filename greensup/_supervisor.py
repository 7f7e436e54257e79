"""Supervisor: starts children in order, restarts them by strategy, stops them in
reverse order, and gives up when restarts come too fast.

A supervisor is a GenServer that traps exits. A child's exit arrives as an
``Exit`` message; the restart type and the exit reason decide whether it is
restarted, the strategy decides which siblings are restarted with it, and the
restart intensity (``max_restarts`` within ``max_seconds``) decides when the
supervisor stops all its children and exits with ``'shutdown'`` instead.

The machinery shared with :class:`DynamicSupervisor` (starting a child, restart
intensity, shutting children down, reports) lives in ``_supervision``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, cast

from greensup._errors import AlreadyStarted, NotFound, StartError
from greensup._genserver import stop
from greensup._process import (
    Pid,
)
from greensup._supervision import (
    Child,
    ChildInfo,
    SupervisorBase,
    check_intensity,
    request,
    show_id,
    to_spec,
)
from greensup._types import (
    STRATEGIES,
    ChildSpec,
    Exit,
    Reason,
    Strategy,
    is_normal,
    short_repr,
)

__all__ = ["Supervisor"]


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
            f"supervisor {self._label} has no child with id {show_id(child_id)}"
        )

    # -- requests ------------------------------------------------------------

    def _do_start_child(self, spec: ChildSpec) -> Pid:
        if any(c.spec.id == spec.id for c in self._children):
            raise AlreadyStarted(
                f"supervisor {self._label} already has a child with id "
                f"{show_id(spec.id)}"
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
                f"child {show_id(child_id)} of supervisor {self._label} is running"
            )
        child.pid = self._start_child(child.spec)
        return child.pid

    def _do_delete_child(self, child_id: Hashable) -> None:
        child = self._find_id(child_id)
        if child.pid is not None:
            raise ValueError(
                f"cannot delete child {show_id(child_id)} of supervisor "
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
        return cast(Pid, request(sup, "start_child", to_spec(spec)))

    @staticmethod
    def terminate_child(sup: Pid | str, child_id: Hashable) -> None:
        """Stop a child, keeping its spec (a temporary child's is removed).

        Blocks until the child has exited.

        Raises:
            NotFound: no child has that id.

        OTP: ``supervisor:terminate_child/2``.
        """
        request(sup, "terminate_child", child_id)

    @staticmethod
    def restart_child(sup: Pid | str, child_id: Hashable) -> Pid:
        """Start a stopped child again from its spec; blocks until it runs.

        Raises:
            NotFound: no child has that id.
            AlreadyStarted: the child is running.
            StartError: it failed to start.

        OTP: ``supervisor:restart_child/2``.
        """
        return cast(Pid, request(sup, "restart_child", child_id))

    @staticmethod
    def delete_child(sup: Pid | str, child_id: Hashable) -> None:
        """Remove a stopped child's spec; blocks until the supervisor answers.

        Raises:
            NotFound: no child has that id.
            ValueError: the child is running.

        OTP: ``supervisor:delete_child/2``.
        """
        request(sup, "delete_child", child_id)

    @staticmethod
    def which_children(sup: Pid | str) -> list[ChildInfo]:
        """Return ``(id, pid or None, type, restart)`` for each child, in start
        order: a snapshot. Blocks until the supervisor answers.

        OTP: ``supervisor:which_children/1``.
        """
        return cast("list[ChildInfo]", request(sup, "which_children", None))

    @staticmethod
    def count_children(sup: Pid | str) -> dict[str, int]:
        """Return ``{'specs', 'active', 'supervisors', 'workers'}`` counts.

        Blocks until the supervisor answers.

        OTP: ``supervisor:count_children/1``.
        """
        return cast("dict[str, int]", request(sup, "count_children", None))

    @staticmethod
    def stop(
        sup: Pid | str, reason: Reason = "normal", timeout: float | None = None
    ) -> None:
        """Stop the supervisor; blocks until every child has stopped, in reverse
        start order, and the supervisor has exited. See :func:`greensup.stop`."""
        stop(sup, reason, timeout)


def _checked_specs(
    children: Iterable[object],
    strategy: object,
    max_restarts: object,
    max_seconds: object,
) -> list[ChildSpec]:
    if strategy not in STRATEGIES:
        valid = ", ".join(repr(s) for s in STRATEGIES)
        raise ValueError(f"strategy must be one of {valid}; got {short_repr(strategy)}")
    check_intensity(max_restarts, max_seconds)
    if isinstance(children, (str, bytes)) or not isinstance(children, Iterable):
        raise TypeError(
            f"children must be a list of child specs, got {short_repr(children)}"
        )
    specs = [to_spec(child) for child in children]
    seen: set[Hashable] = set()
    for spec in specs:
        if spec.id in seen:
            raise AlreadyStarted(
                f"two children have the id {show_id(spec.id)}; give each its own id"
            )
        seen.add(spec.id)
    return specs

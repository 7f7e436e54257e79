"""DynamicSupervisor: a one_for_one supervisor of children added at run time.

Children are known by pid, start with no siblings to wait for, and on shutdown
are all asked to stop at once, so stopping many takes about one shutdown time.
A restarted child keeps its place (and its slot under ``max_children``).
"""

from __future__ import annotations

from typing import Any, cast

from greensup._errors import MaxChildren, NotFound
from greensup._genserver import stop
from greensup._process import Pid
from greensup._supervision import (
    Child,
    ChildInfo,
    SupervisorBase,
    check_intensity,
    request,
    show_id,
    to_spec,
)
from greensup._types import ChildSpec, Exit, Reason, is_normal, short_repr

__all__ = ["DynamicSupervisor"]


class DynamicSupervisor(SupervisorBase):
    """A supervisor whose children are started on demand.

    OTP: Elixir's ``DynamicSupervisor``.
    """

    _children: dict[Pid, Child]
    _max_children: int | None

    @classmethod
    def start_link(  # type: ignore[override]
        cls,
        max_children: int | None = None,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        name: str | None = None,
    ) -> Pid:
        """Start an empty dynamic supervisor linked to the caller.

        Args:
            max_children: at most this many children at once; None: no limit.
            max_restarts: restarts allowed within ``max_seconds``; one more and
                the supervisor stops its children and exits with ``'shutdown'``.
            max_seconds: the length of the restart intensity window.
            name: register the supervisor under this name.

        Blocks until the supervisor runs.
        """
        if max_children is not None and (
            isinstance(max_children, bool)
            or not isinstance(max_children, int)
            or max_children < 1
        ):
            raise ValueError(
                f"max_children must be a positive int or None, "
                f"got {short_repr(max_children)}"
            )
        check_intensity(max_restarts, max_seconds)
        return super().start_link(max_children, max_restarts, max_seconds, name=name)

    def init(
        self, max_children: int | None, max_restarts: int, max_seconds: float
    ) -> None:
        self._setup(max_restarts, max_seconds)
        self._max_children = max_children
        self._children = {}

    def _child_list(self) -> list[Child]:
        return list(self._children.values())

    def terminate(self, reason: Reason) -> None:
        self._shutdown(list(self._children.values()))

    # -- exits and restarts -----------------------------------------------------

    def handle_info(self, msg: Any) -> None:
        if type(msg) is not Exit:
            return
        child = self._children.pop(msg.pid, None)
        if child is None:
            return  # an exit from a process that is no child of ours: ignored
        child.pid = None
        reason = msg.reason
        restart = child.spec.restart
        if restart == "temporary" or (restart == "transient" and is_normal(reason)):
            self._report_exit(child, msg.pid, reason, "remove")
            return
        self._restart(child, msg.pid, reason, self._start_again)

    def _start_again(self, child: Child) -> None:
        new_pid = self._start_child(child.spec)
        child.pid = new_pid
        child.restarts += 1
        self._children[new_pid] = child

    # -- requests ----------------------------------------------------------------

    def _do_start_child(self, spec: ChildSpec) -> Pid:
        if self._max_children is not None and len(self._children) >= self._max_children:
            raise MaxChildren(
                f"dynamic supervisor {self._label} is at max_children="
                f"{self._max_children}; cannot start {show_id(spec.id)}"
            )
        pid = self._start_child(spec)
        self._children[pid] = Child(spec, pid)
        return pid

    def _do_terminate_child(self, pid: Pid) -> None:
        child = self._children.pop(pid, None) if isinstance(pid, Pid) else None
        if child is None:
            raise NotFound(
                f"dynamic supervisor {self._label} has no child {short_repr(pid)}"
            )
        self._shutdown([child])

    def _do_which_children(self, _: None) -> list[ChildInfo]:
        return [
            ChildInfo(None, c.pid, c.spec.type, c.spec.restart)
            for c in self._children.values()
        ]

    # -- client API ------------------------------------------------------------

    @staticmethod
    def start_child(sup: Pid | str, spec: object) -> Pid:
        """Start a new child from ``spec``; blocks until it has started.

        Raises:
            MaxChildren: the supervisor is full.
            StartError: the child failed to start.

        OTP: ``DynamicSupervisor.start_child/2``.
        """
        return cast(Pid, request(sup, "start_child", to_spec(spec)))

    @staticmethod
    def terminate_child(sup: Pid | str, pid: Pid) -> None:
        """Stop the child ``pid`` and forget it; blocks until it has stopped.

        Raises:
            NotFound: ``pid`` is no child of this supervisor.

        OTP: ``DynamicSupervisor.terminate_child/2``.
        """
        request(sup, "terminate_child", pid)

    @staticmethod
    def which_children(sup: Pid | str) -> list[ChildInfo]:
        """Return ``(None, pid, type, restart)`` for each child: a snapshot.

        Blocks until the supervisor answers.
        """
        return cast("list[ChildInfo]", request(sup, "which_children", None))

    @staticmethod
    def count_children(sup: Pid | str) -> dict[str, int]:
        """Return ``{'specs', 'active', 'supervisors', 'workers'}`` counts.

        Blocks until the supervisor answers.
        """
        return cast("dict[str, int]", request(sup, "count_children", None))

    @staticmethod
    def stop(
        sup: Pid | str, reason: Reason = "normal", timeout: float | None = None
    ) -> None:
        """Stop the supervisor; blocks until all children, stopped at once,
        have exited. See :func:`greensup.stop`."""
        stop(sup, reason, timeout)

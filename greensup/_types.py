"""Value types that cross the API: references, ``Down``/``Exit`` messages, child specs.

This module is also the one place that decides what an exit reason means:
:func:`is_normal` (no crash: nothing to report, a transient child stays down) and
:func:`kills_links` (the exit signal takes linked processes down with it).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from greensup._process import Pid

__all__ = [
    "ChildSpec",
    "ChildType",
    "Down",
    "Exit",
    "Reason",
    "Ref",
    "RestartType",
    "Shutdown",
    "Strategy",
    "check_seconds",
    "is_normal",
    "kills_links",
    "make_ref",
    "short_repr",
]

#: Why a process ended: an OTP atom as a lowercase string, a ``('shutdown',
#: detail)`` pair, or the exception that crashed it.
Reason = Any  # str | tuple[str, Any] | BaseException
Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
RestartType = Literal["permanent", "transient", "temporary"]
Shutdown = float | Literal["brutal_kill", "infinity"]
ChildType = Literal["worker", "supervisor"]

STRATEGIES: tuple[str, ...] = ("one_for_one", "one_for_all", "rest_for_one")
RESTART_TYPES: tuple[str, ...] = ("permanent", "transient", "temporary")
CHILD_TYPES: tuple[str, ...] = ("worker", "supervisor")

_ref_ids = itertools.count(1)


def is_normal(reason: Reason) -> bool:
    """Tell whether ``reason`` ends a process without an error.

    ``'normal'``, ``'shutdown'`` and ``('shutdown', detail)`` are normal: no crash
    report is written for them and a transient child is not restarted.
    Never blocks.
    """
    if isinstance(reason, str):
        return reason in ("normal", "shutdown")
    return isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "shutdown"


def kills_links(reason: Reason) -> bool:
    """Tell whether an exit signal with ``reason`` kills a process that does not
    trap exits. Only ``'normal'`` does not. Never blocks."""
    return not (isinstance(reason, str) and reason == "normal")


def check_seconds(
    value: object, what: str, *, positive: bool = False, or_none: bool = False
) -> float:
    """Return ``value`` as seconds, or raise an error that names ``what``.

    Raises:
        TypeError: ``value`` is not an int or a float.
        ValueError: it is negative (or zero, with ``positive``), NaN or infinite.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        expected = "seconds or None" if or_none else "seconds"
        raise TypeError(f"{what} must be {expected}, got {short_repr(value)}")
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{what} must be a finite number of seconds, got {value}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    if positive and value == 0:
        raise ValueError(f"{what} must be positive, got {value}")
    return float(value)


def short_repr(value: object, limit: int = 50) -> str:
    """Return ``repr(value)`` cut to about ``limit`` characters. Never blocks."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


class Ref:
    """A unique reference, as made by :func:`make_ref` and :func:`monitor`.

    Hashable and comparable for equality; no two are ever equal.
    """

    __slots__ = ("_id",)

    def __init__(self) -> None:
        self._id = next(_ref_ids)

    def __repr__(self) -> str:
        return f"#Ref<0.0.0.{self._id}>"


def make_ref() -> Ref:
    """Return a new unique reference. OTP: ``erlang:make_ref/0``. Never blocks."""
    return Ref()


class Down(NamedTuple):
    """The message a monitor delivers, exactly once, when the watched process exits."""

    ref: Ref
    pid: Pid | str
    reason: Reason


class Exit(NamedTuple):
    """An exit signal turned into a message, for a process that traps exits."""

    pid: Pid
    reason: Reason


@dataclass(frozen=True, eq=True)
class ChildSpec:
    """How a supervisor starts, restarts and stops one child.

    Args:
        id: the child's id, unique within its supervisor (any hashable value).
        start: called as ``start(*args, **kwargs)``; must return the ``Pid`` of a
            process linked to the caller (the supervisor).
        args: positional arguments for ``start``.
        kwargs: keyword arguments for ``start``.
        restart: ``'permanent'`` (always restarted), ``'transient'`` (restarted
            only after an abnormal exit) or ``'temporary'`` (never restarted;
            its spec is removed when it exits).
        shutdown: seconds to wait after ``exit(child, 'shutdown')`` before
            killing the child, ``'brutal_kill'`` or ``'infinity'``. Defaults to
            5.0 for a worker and ``'infinity'`` for a supervisor.
        type: ``'worker'`` or ``'supervisor'``.

    Raises:
        ValueError: a field has a value outside its allowed set.
        TypeError: ``start`` is not callable, or ``id`` is not hashable.
    """

    id: Any
    start: Callable[..., Pid]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] | None = None
    restart: RestartType = "permanent"
    shutdown: Shutdown | None = None
    type: ChildType = "worker"

    def __post_init__(self) -> None:
        _check_choice("type", self.type, CHILD_TYPES)
        _check_choice("restart", self.restart, RESTART_TYPES)
        if not callable(self.start):
            raise TypeError(
                f"child spec {self.id!r}: start must be callable, "
                f"got {short_repr(self.start)}"
            )
        try:
            hash(self.id)
        except TypeError:
            raise TypeError(
                f"child spec id must be hashable, got {short_repr(self.id)}"
            ) from None
        if not isinstance(self.args, (tuple, list)):
            raise TypeError(
                f"child spec {self.id!r}: args must be a tuple, "
                f"got {short_repr(self.args)}"
            )
        if self.kwargs is not None and not isinstance(self.kwargs, Mapping):
            raise TypeError(
                f"child spec {self.id!r}: kwargs must be a dict, "
                f"got {short_repr(self.kwargs)}"
            )
        object.__setattr__(self, "args", tuple(self.args))
        object.__setattr__(self, "kwargs", dict(self.kwargs or {}))
        object.__setattr__(self, "shutdown", self._checked_shutdown())

    def _checked_shutdown(self) -> Shutdown:
        value = self.shutdown
        if value is None:
            return "infinity" if self.type == "supervisor" else 5.0
        if value in ("brutal_kill", "infinity"):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(
                f"child spec {self.id!r}: shutdown must be seconds, 'brutal_kill' "
                f"or 'infinity', got {short_repr(value)}"
            )
        return check_seconds(value, f"child spec {self.id!r}: shutdown")

    def __repr__(self) -> str:
        ident = self.id.__name__ if isinstance(self.id, type) else short_repr(self.id)
        return f"ChildSpec(id={ident}, restart={self.restart!r})"


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {valid}; got {short_repr(value)}")

"""Reply slots: where the one answer a caller waits for goes.

A call's reply and a start's acknowledgement go straight to the waiting caller,
never through its mailbox, so a reply that comes after the caller stopped
waiting is dropped. The process a caller waits on keeps the slot until it
answers or exits; its exit answers every slot still waiting with
:class:`Exited`, so no caller waits for a process that is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gevent.hub import Waiter

from greensup._mailbox import wait_for_switch, wake
from greensup._types import Reason

if TYPE_CHECKING:
    from greensup._process import Pid

__all__ = ["Exited", "ReplySlot", "forget"]


class Exited:
    """What a reply slot gets when the process it waited on exited first."""

    __slots__ = ("reason",)

    def __init__(self, reason: Reason) -> None:
        self.reason = reason


class ReplySlot:
    """Where one reply to one caller goes: a call's reply, a start's ack.

    The answer goes straight to the waiting caller, never through its mailbox,
    so a reply that comes after the caller stopped waiting is dropped.
    """

    __slots__ = ("_waiter",)

    def __init__(self) -> None:
        self._waiter: Waiter | None = None

    def wait_on(self, target: Pid) -> None:
        """Have ``target``'s exit answer this slot with :class:`Exited`."""
        if target._waiting is None:
            target._waiting = set()
        target._waiting.add(self)

    def wait(self, timeout: float | None) -> Any:
        """Block until answered; return the answer or ``TIMED_OUT``."""
        self._waiter = waiter = Waiter()
        try:
            return wait_for_switch(waiter, timeout)
        finally:
            self._waiter = None

    def answer(self, value: Any) -> None:
        """Wake the caller with ``value``, if it still waits. Never blocks."""
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            wake(waiter, value)


def forget(slot: ReplySlot, target: Pid) -> None:
    """Stop ``target``'s exit from answering ``slot``."""
    waiting = target._waiting
    if waiting is not None:
        waiting.discard(slot)
        if not waiting:
            target._waiting = None  # an idle server keeps no empty set

"""The mailbox of a process: an ordered queue of messages with selective receive.

Messages are taken in arrival order; ``take`` with a ``match`` function skips the
messages it rejects and leaves them queued in order, remembering how far it has
looked so that every message is tested once per receive. A process blocked in
``take`` is woken by a hub callback that only switches back to it; ``put`` never
blocks and never runs user code, so it is safe from hub callbacks (timers, links).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Any

from gevent import get_hub
from gevent.hub import Waiter
from gevent.monkey import get_original

# The OS thread's identity even under monkey patching, which makes
# ``_thread.get_ident`` tell greenlets apart instead.
get_ident: Callable[[], int] = get_original("_thread", "get_ident")

__all__ = ["TIMED_OUT", "Mailbox", "wait_for_switch", "wake"]


class _TimedOut:
    __slots__ = ()

    def __repr__(self) -> str:
        return "TIMED_OUT"


#: What a wait returns when its timeout ran out.
TIMED_OUT: Any = _TimedOut()


def wake(waiter: Waiter, value: Any) -> None:
    """Have the hub switch ``waiter``'s greenlet back in with ``value``.

    Never blocks. From the hub's own thread the wake-up is queued as a loop
    callback; from any other OS thread (gevent's thread pool, say) through the
    loop's thread-safe queue, which also wakes a hub that is sleeping.
    """
    hub = waiter.hub
    if hub.thread_ident == get_ident():
        hub.loop.run_callback(waiter.switch, value)
    else:
        hub.loop.run_callback_threadsafe(waiter.switch, value)


def wait_for_switch(waiter: Waiter, timeout: float | None) -> Any:
    """Block the calling greenlet until ``waiter`` is switched, or ``timeout`` passes.

    Returns the value passed to ``waiter.switch`` or :data:`TIMED_OUT`.
    """
    if timeout is None:
        return waiter.get()
    timer = get_hub().loop.timer(timeout)
    timer.start(waiter.switch, TIMED_OUT)
    try:
        return waiter.get()
    finally:
        timer.close()


class Mailbox:
    """The messages sent to one process and not yet received.

    Only the thread of the hub it was made on touches it: a message put from
    any other OS thread is handed to that hub and put there, in order. So the
    mailbox needs no lock, and the owner may scan it while others send.
    """

    __slots__ = ("_messages", "_waiter", "_closed", "_hub", "_thread")

    def __init__(self) -> None:
        # The deque is made on the first message: most idle processes never get one.
        self._messages: deque[Any] | None = None
        self._waiter: Waiter | None = None
        self._closed = False
        self._hub = get_hub()
        self._thread = self._hub.thread_ident

    def __len__(self) -> int:
        return len(self._messages) if self._messages else 0

    def put(self, message: Any, _get_ident: Callable[[], int] = get_ident) -> None:
        """Append ``message`` and wake the owner if it is waiting. Never blocks.

        Runs in hub callbacks too, so it must not block, raise or log. Safe
        from other OS threads as well.
        """
        if _get_ident() != self._thread:
            self._hub.loop.run_callback_threadsafe(self.put, message)
            return
        if self._closed:
            return
        messages = self._messages
        if messages is None:
            messages = self._messages = deque()
        messages.append(message)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            self._hub.loop.run_callback(waiter.switch, None)

    def take(
        self, timeout: float | None, match: Callable[[Any], bool] | None = None
    ) -> Any:
        """Remove and return the oldest message that ``match`` accepts.

        Blocks until such a message arrives or ``timeout`` passes; ``timeout=0``
        only looks at what is queued. Returns :data:`TIMED_OUT` when nothing
        matched in time. Must be called by the owner process only.
        """
        messages = self._messages
        if messages and match is None:
            return messages.popleft()  # the common case, without the set-up below
        scanned = 0
        deadline: _Deadline | None = None
        if timeout is not None and timeout > 0:
            deadline = _Deadline(self, timeout)
        try:
            while True:
                messages = self._messages
                if messages:
                    if match is None:
                        return messages.popleft()
                    index = scanned
                    for message in islice(messages, scanned, None):
                        if match(message):
                            del messages[index]
                            return message
                        index += 1
                    scanned = index
                if timeout is not None and (deadline is None or deadline.passed):
                    return TIMED_OUT
                waiter = self._waiter = Waiter()
                waiter.get()
        finally:
            self._waiter = None
            if deadline is not None:
                deadline.cancel()

    def remove_all(self, match: Callable[[Any], bool]) -> int:
        """Remove every queued message that ``match`` accepts, in one pass.

        Returns how many were removed. Never blocks.
        """
        messages = self._messages
        if not messages:
            return 0
        kept = deque(m for m in messages if not match(m))
        removed = len(messages) - len(kept)
        self._messages = kept
        return removed

    def remove(self, match: Callable[[Any], bool]) -> bool:
        """Remove the oldest queued message that ``match`` accepts. Never blocks."""
        messages = self._messages
        if messages:
            for index, message in enumerate(messages):
                if match(message):
                    del messages[index]
                    return True
        return False

    def close(self) -> None:
        """Drop every queued message and every later one. Never blocks."""
        self._closed = True
        self._messages = None


class _Deadline:
    """The timeout of one ``take``: wakes the owner once when it passes."""

    __slots__ = ("_mailbox", "_timer", "passed")

    def __init__(self, mailbox: Mailbox, timeout: float) -> None:
        self._mailbox = mailbox
        self.passed = False
        self._timer = get_hub().loop.timer(timeout)
        self._timer.start(self._expire)

    def _expire(self) -> None:
        # Hub callback: only flags and wakes the owner; must not block or raise.
        self.passed = True
        waiter = self._mailbox._waiter
        if waiter is not None:
            self._mailbox._waiter = None
            waiter.switch(None)

    def cancel(self) -> None:
        self._timer.close()

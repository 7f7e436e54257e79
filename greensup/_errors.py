"""The exceptions greensup raises; every one derives from :class:`GreensupError`.

Messages are lowercase, without a final period, and say what was asked, of whom
and why it failed.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyRegistered",
    "AlreadyStarted",
    "CallTimeout",
    "GreensupError",
    "MaxChildren",
    "NoProc",
    "NotFound",
    "ReceiveTimeout",
    "ServerExit",
    "StartError",
]


class GreensupError(Exception):
    """Base class of every error greensup raises on purpose."""


class NoProc(GreensupError):
    """The process asked for is not alive, or no process has the name."""


class CallTimeout(GreensupError, TimeoutError):
    """A call got no reply within its timeout."""


class ReceiveTimeout(GreensupError, TimeoutError):
    """No matching message arrived within the receive timeout."""


class ServerExit(GreensupError):
    """The server exited before it replied to a call.

    Attributes:
        reason: the reason the server exited with.
    """

    def __init__(self, message: str, reason: Any) -> None:
        super().__init__(message)
        self.reason = reason


class StartError(GreensupError):
    """A process or a child failed to start; the cause is chained.

    Attributes:
        reason: why the start failed (usually the exception raised in ``init``).
    """

    def __init__(self, message: str, reason: Any = None) -> None:
        super().__init__(message)
        self.reason = reason


class AlreadyStarted(GreensupError):
    """A supervisor already has a child with that id."""


class AlreadyRegistered(GreensupError):
    """The name is taken, or the process already has a name."""


class MaxChildren(GreensupError):
    """A dynamic supervisor is at its ``max_children`` limit."""


class NotFound(GreensupError):
    """A supervisor has no child with that id or pid."""

"""Every log report greensup writes, built in one place.

A report is a kind (``crash report``, ``supervisor report``, ...) followed by
``key=value`` pairs in a fixed order, with lazy ``%`` formatting, and the same
fields in ``extra={"report": {...}}`` for structured handlers. The logger names
are public and fixed. The package never configures handlers or levels.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = [
    "application_log",
    "crash_log",
    "report",
    "supervisor_log",
    "timer_log",
]

crash_log = logging.getLogger("greensup")
crash_log.addHandler(logging.NullHandler())
supervisor_log = logging.getLogger("greensup.supervisor")
application_log = logging.getLogger("greensup.application")
timer_log = logging.getLogger("greensup.timer")


def report(
    logger: logging.Logger,
    level: int,
    kind: str,
    fields: dict[str, Any],
    exc_info: Any = None,
) -> None:
    """Log one report of ``kind`` with ``fields`` at ``level``. Never blocks.

    Must be called from a process, never from a hub callback: handlers may block.
    """
    if not logger.isEnabledFor(level):
        return
    template = kind + ":" + "".join(f" {key}=%s" for key in fields)
    values = tuple(_show(value) for value in fields.values())
    logger.log(
        level,
        template,
        *values,
        exc_info=exc_info,
        extra={"report": dict(fields, kind=kind)},
    )


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."

"""The table of registered names: one name per process, one process per name.

The process layer keeps it in step with process lifetimes (a name is freed when its
process exits); this module only guards the two uniqueness rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from greensup._errors import AlreadyRegistered, NoProc

if TYPE_CHECKING:
    from greensup._process import Pid

__all__ = ["add", "check_name", "lookup", "names", "remove"]

_names: dict[str, Pid] = {}


def check_name(name: object) -> str:
    """Return ``name`` if it can be registered, else raise ``TypeError``."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"a registered name must be a non-empty str, got {name!r}")
    return name


def add(name: str, pid: Pid) -> None:
    """Register ``pid`` under ``name``. Never blocks.

    Raises:
        AlreadyRegistered: the name is taken, or the process has another name.
    """
    holder = _names.get(name)
    if holder is not None:
        raise AlreadyRegistered(f"name {name!r} is already registered to {holder!r}")
    if pid._name is not None:
        raise AlreadyRegistered(
            f"cannot register {pid!r} as {name!r}: it is already registered "
            f"as {pid._name!r}"
        )
    _names[name] = pid
    pid._name = name


def remove(name: str) -> Pid:
    """Free ``name`` and return the process that held it. Never blocks.

    Raises:
        NoProc: no process has the name.
    """
    pid = _names.pop(name, None)
    if pid is None:
        raise NoProc(f"cannot unregister {name!r}: no process has that name")
    pid._name = None
    return pid


def lookup(name: str) -> Pid | None:
    """Return the process registered as ``name``, or None. Never blocks."""
    return _names.get(name)


def names() -> list[str]:
    """Return a snapshot of the registered names. Never blocks."""
    return list(_names)

"""Checking and copying the values a Store holds: plain JSON, nothing else.

A value goes in through :func:`plain`, which returns a copy made only of the
JSON types (``dict`` with ``str`` keys, ``list``, ``str``, ``int``, ``float``,
``bool`` and ``None``), turning tuples into lists and subclasses of those types
into their base type, or raises :class:`Invalid` with the path to the first part
JSON cannot hold. A value comes out through :func:`clone`, which copies the
containers and shares the immutable leaves. Neither function switches greenlets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from greensup._types import short_repr

__all__ = ["CONTAINERS", "Invalid", "clone", "plain"]

CONTAINERS = frozenset((dict, list))


class Invalid(Exception):
    """A value JSON cannot hold; collects the path to it while unwinding."""

    def __init__(self, error: type[Exception], what: str) -> None:
        super().__init__(what)
        self.error = error
        self.what = what
        self.path: list[str] = []


def plain(value: Any) -> Any:
    """Return a copy of ``value`` made only of JSON types, or raise ``Invalid``."""
    kind = type(value)
    if kind is str:
        if not value.isascii():
            _check_text(value)
        return value
    if kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        raise Invalid(ValueError, f"{value!r}, which JSON cannot represent")
    if kind is dict:
        return _plain_dict(value)
    if kind is list or kind is tuple:
        return _plain_list(value)
    return _plain_subclass(value)


def _plain_dict(value: Mapping[Any, Any]) -> dict[str, Any]:
    copy = {}
    for key, item in value.items():
        if type(key) is not str:
            raise Invalid(TypeError, f"dict key {short_repr(key, 30)}, not a str")
        if not key.isascii():
            _check_text(key)
        kind = type(item)
        if kind is int or item is None or (kind is str and item.isascii()):
            copy[key] = item  # the common leaves, without a call
            continue
        try:
            copy[key] = plain(item)
        except Invalid as exc:
            exc.path.append(f"[{key!r}]")
            raise
    return copy


def _plain_list(value: list[Any] | tuple[Any, ...]) -> list[Any]:
    copy = []
    for index, item in enumerate(value):
        kind = type(item)
        if kind is int or item is None or (kind is str and item.isascii()):
            copy.append(item)
            continue
        try:
            copy.append(plain(item))
        except Invalid as exc:
            exc.path.append(f"[{index}]")
            raise
    return copy


def _plain_subclass(value: Any) -> Any:
    # Enums and other subclasses of the JSON types are stored as the base type,
    # which is also what json.dumps would write for them.
    if isinstance(value, bool):
        return bool(value)
    for base in (str, int, float):
        if isinstance(value, base):
            return plain(base(value))
    if isinstance(value, dict):
        return _plain_dict(value)
    if isinstance(value, (list, tuple)):
        return _plain_list(value)
    raise Invalid(TypeError, f"{type(value).__name__} {short_repr(value, 30)}")


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(ValueError, "a str with a lone surrogate") from None


def clone(value: Any) -> Any:
    """Copy a plain JSON value; strings and numbers are shared, being immutable."""
    kind = type(value)
    if kind is dict:
        return {
            k: v if type(v) not in CONTAINERS else clone(v) for k, v in value.items()
        }
    if kind is list:
        return [v if type(v) not in CONTAINERS else clone(v) for v in value]
    return value

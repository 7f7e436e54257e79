"""The demo's bookkeeping identities, checked the same way by every demo test."""

from __future__ import annotations

from typing import Any

_KEPT = ("rejected", "completed", "dead_lettered", "pending", "in_flight", "retrying")


def assert_nothing_lost(summary: Any) -> None:
    """Every job arrived is in exactly one place; every failed attempt was
    retried or dead-lettered. Takes a summary or counts object, or the JSON dict."""

    def get(key: str) -> int:
        return summary[key] if isinstance(summary, dict) else getattr(summary, key)

    arrived = get("submitted") + get("resumed")
    assert arrived == sum(get(key) for key in _KEPT), summary
    assert get("failed") + get("crashed") == get("retried") + get("dead_lettered"), (
        summary
    )

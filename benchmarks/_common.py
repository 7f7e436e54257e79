"""Helpers shared by every workload module: errors, clocks, memory and statistics.

A workload is a function ``fn(n) -> dict[str, float]`` that runs ``n`` operations of
one kind on one system and returns its figures (rates in operations per second,
latencies in milliseconds, memory in bytes). A system that lacks the feature a
workload needs raises :class:`Unsupported` with the words to put in its cell.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Sequence

__all__ = [
    "Figures",
    "Unsupported",
    "Workload",
    "median",
    "percentile",
    "rate",
    "rss_bytes",
    "settle",
    "unsupported",
]

Figures = dict[str, float]
Workload = Callable[[int], Figures]

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class Unsupported(Exception):
    """Raised by a workload that the system under test cannot run."""


def unsupported(reason: str) -> Workload:
    """Return a workload that always says why the system cannot run it."""

    def workload(n: int) -> Figures:
        raise Unsupported(reason)

    return workload


def rate(count: int, started: float) -> float:
    """Return operations per second for ``count`` operations since ``started``."""
    return count / max(time.perf_counter() - started, 1e-9)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Return the sample below which ``fraction`` of ``samples`` fall (nearest rank)."""
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return ordered[index]


def median(samples: Sequence[float]) -> float:
    """Return the median of ``samples``."""
    return statistics.median(samples)


def rss_bytes() -> int:
    """Return the resident set size of this OS process, in bytes."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE_SIZE


def settle() -> None:
    """Collect garbage twice so that a measurement starts from a quiet heap."""
    gc.collect()
    gc.collect()

"""Shared fixtures: every test starts as a fresh process and must leave none behind.

A test fails if it leaks live processes or registered names, or if greensup logs an
ERROR report the test did not claim with the ``error_reports`` fixture.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator

import gevent
import pytest
from greenlet import getcurrent

import greensup
from greensup import _process


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Let other processes run until ``predicate()`` is true; fail after timeout."""
    with gevent.Timeout(timeout, AssertionError(f"condition not met in {timeout}s")):
        while not predicate():
            gevent.sleep(0.005)


def live_processes() -> list[greensup.Pid]:
    return [
        obj.pid
        for obj in gc.get_objects()
        if type(obj) is _process._ProcessGreenlet and obj.pid.alive
    ]


class _ErrorReports(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.claimed = False

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_reports(_guard: _ErrorReports) -> list[logging.LogRecord]:
    """The ERROR reports logged during the test; using it allows them."""
    _guard.claimed = True
    return _guard.records


@pytest.fixture(autouse=True)
def _guard() -> Iterator[_ErrorReports]:
    main = getcurrent()
    _process._adopted.pop(main, None)  # each test is a new process
    handler = _ErrorReports()
    logger = logging.getLogger("greensup")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        me = _process._adopted.pop(main, None)
        if me is not None:
            me._links = None  # the test's own links end with it, silently
            _process._exit_process(me, "normal")
        gevent.sleep(0)
    leaked = live_processes()
    names = greensup.registered()
    for pid in leaked:
        greensup.exit(pid, "kill")
    for name in names:
        if greensup.whereis(name) is not None:
            greensup.unregister(name)
    gevent.sleep(0)
    assert not leaked, f"the test left live processes behind: {leaked}"
    assert not names, f"the test left registered names behind: {names}"
    if not handler.claimed:
        messages = [r.getMessage() for r in handler.records]
        assert not messages, f"unexpected ERROR reports: {messages}"

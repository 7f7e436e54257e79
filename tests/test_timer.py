"""Timers: send_after, send_interval, apply_after and cancel."""

from __future__ import annotations

import time

import gevent
import pytest

import greensup
from greensup import timer
from tests.conftest import wait_for


def test_send_after_delivers_the_message_once() -> None:
    me = greensup.self_pid()

    timer.send_after(0.01, me, "ding")

    assert greensup.receive(10) == "ding"
    with pytest.raises(greensup.ReceiveTimeout):
        greensup.receive(0.05)


def test_send_after_to_a_name_looks_it_up_when_it_fires() -> None:
    ref = timer.send_after(0.02, "late-comer", "hello")
    greensup.register("late-comer")

    assert greensup.receive(10) == "hello"
    assert timer.cancel(ref) is None
    greensup.unregister("late-comer")


def test_send_after_to_a_name_nobody_has_is_dropped_without_error() -> None:
    ref = timer.send_after(0, "nobody", "lost")

    wait_for(lambda: timer.cancel(ref) is None)

    assert greensup.self_pid().alive


def test_cancel_returns_the_seconds_that_were_left() -> None:
    ref = timer.send_after(10, greensup.self_pid(), "never")

    left = timer.cancel(ref)

    assert 9.0 < left <= 10.0
    with pytest.raises(greensup.ReceiveTimeout):
        greensup.receive(0.05)


def test_cancel_of_a_fired_or_cancelled_timer_returns_none() -> None:
    fired = timer.send_after(0, greensup.self_pid(), "x")
    greensup.receive(10)
    cancelled = timer.send_after(5, greensup.self_pid(), "y")
    timer.cancel(cancelled)

    assert timer.cancel(fired) is None
    assert timer.cancel(cancelled) is None


def test_nothing_is_sent_after_cancel_returns() -> None:
    ref = timer.send_after(0, greensup.self_pid(), "too late")

    timer.cancel(ref)

    with pytest.raises(greensup.ReceiveTimeout):
        greensup.receive(0.05)


def test_cancel_of_something_else_raises_type_error() -> None:
    with pytest.raises(TypeError, match=r"^cancel needs a TimerRef, got 'ref'$"):
        timer.cancel("ref")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "error", "message"),
    [
        (-1, ValueError, r"^timer delay must not be negative, got -1$"),
        ("1", TypeError, r"^timer delay must be seconds, got '1'$"),
        (None, TypeError, r"^timer delay must be seconds, got None$"),
    ],
)
def test_bad_delay_raises_a_clear_error(seconds, error, message) -> None:
    with pytest.raises(error, match=message):
        timer.send_after(seconds, greensup.self_pid(), "x")


def test_send_after_to_a_bad_destination_raises_type_error() -> None:
    with pytest.raises(TypeError, match=r"^a destination must be a Pid"):
        timer.send_after(1, 12, "x")  # type: ignore[arg-type]


def test_send_interval_with_zero_interval_raises_value_error() -> None:
    with pytest.raises(
        ValueError, match=r"^send_interval interval must be positive, got 0"
    ):
        timer.send_interval(0, greensup.self_pid(), "x")


def test_send_interval_does_not_drift_or_lose_ticks_on_a_busy_hub() -> None:
    me = greensup.self_pid()
    stop = []

    def hog() -> None:
        # Hold the hub for 15 ms at a time: ticks are late, never lost.
        while not stop:
            busy_until = time.perf_counter() + 0.015
            while time.perf_counter() < busy_until:
                pass
            gevent.sleep(0.005)

    hogger = gevent.spawn(hog)
    start = time.perf_counter()
    ref = timer.send_interval(0.01, me, "tick")

    for _ in range(100):
        assert greensup.receive(10) == "tick"
    elapsed = time.perf_counter() - start
    timer.cancel(ref)
    stop.append(True)
    hogger.join()

    assert 0.99 <= elapsed < 1.0 + 0.15  # the hundredth is due at 1.0 s
    while True:
        try:
            assert greensup.receive(0) == "tick"
        except greensup.ReceiveTimeout:
            break


def test_send_interval_is_cancelled_when_the_process_that_set_it_exits() -> None:
    me = greensup.self_pid()

    def setter() -> None:
        timer.send_interval(0.005, me, "tick")
        greensup.receive()

    pid, ref = greensup.spawn_monitor(setter)
    assert greensup.receive(10) == "tick"

    greensup.exit(pid, "kill")
    greensup.receive(10, lambda m: m == greensup.Down(ref, pid, "killed"))
    while True:  # drop ticks sent before the exit
        try:
            greensup.receive(0, lambda m: m == "tick")
        except greensup.ReceiveTimeout:
            break

    with pytest.raises(greensup.ReceiveTimeout):
        greensup.receive(0.05)


def test_cancel_of_an_interval_returns_time_to_the_next_tick() -> None:
    ref = timer.send_interval(5, greensup.self_pid(), "tick")

    left = timer.cancel(ref)

    assert 4.0 < left <= 5.0
    assert timer.cancel(ref) is None


def test_apply_after_calls_the_function_in_a_new_process() -> None:
    me = greensup.self_pid()

    def report(tag: str) -> None:
        greensup.send(me, (tag, greensup.self_pid(), gevent.getcurrent()))

    timer.apply_after(0.01, report, "applied")

    tag, pid, glet = greensup.receive(10)
    assert tag == "applied" and pid != me
    assert glet is not gevent.get_hub()


def test_apply_after_a_crashing_function_does_not_hurt_the_hub(
    error_reports: list,
) -> None:
    me = greensup.self_pid()
    timer.apply_after(0, lambda: 1 / 0)
    timer.apply_after(0.01, greensup.send, me, "still fine")

    assert greensup.receive(10) == "still fine"
    wait_for(lambda: len(error_reports) == 1)


def test_apply_after_with_a_non_callable_raises_type_error() -> None:
    with pytest.raises(TypeError, match=r"^spawn needs a callable"):
        timer.apply_after(1, "nope")  # type: ignore[arg-type]


def test_timer_ref_repr_is_short() -> None:
    ref = timer.send_after(5, greensup.self_pid(), "x")

    assert repr(ref) == "<TimerRef send_after active>"
    timer.cancel(ref)
    assert repr(ref) == "<TimerRef send_after done>"


@pytest.mark.parametrize("seconds", [float("nan"), float("inf")])
def test_a_delay_that_is_not_finite_raises_value_error(seconds) -> None:
    message = r"^timer delay must be a finite number of seconds, got (nan|inf)$"
    with pytest.raises(ValueError, match=message):
        timer.send_after(seconds, greensup.self_pid(), "x")
    with pytest.raises(ValueError, match=r"must be a finite number of seconds"):
        timer.send_interval(seconds, greensup.self_pid(), "x")

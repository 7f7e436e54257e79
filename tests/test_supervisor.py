"""Supervisor: start order, strategies, restart types and intensity, shutdown."""

from __future__ import annotations

import logging

import gevent
import pytest
from freezegun import freeze_time

import greensup
from greensup import ChildSpec, Down, Exit, GenServer, Supervisor
from tests.conftest import wait_for


class Worker(GenServer):
    """Records its life in a shared list: ('start', id) and ('stop', id, reason)."""

    def init(self, ident, record, trap=True, fail=False, linger=0.0) -> None:
        if fail:
            raise RuntimeError(f"{ident} cannot start")
        greensup.trap_exit(trap)
        self.ident, self.record, self.linger = ident, record, linger
        record.append(("start", ident))

    def handle_call(self, request, caller):
        if request == "crash":
            raise RuntimeError(f"{self.ident} crashed")
        if request == "exit normal":
            raise greensup.Stop("normal", reply="bye")
        return self.ident

    def terminate(self, reason) -> None:
        if self.linger:
            gevent.sleep(self.linger)
        self.record.append(("stop", self.ident, reason))


def spec(ident, record, **kwargs) -> ChildSpec:
    restart = kwargs.pop("restart", "permanent")
    shutdown = kwargs.pop("shutdown", None)
    return ChildSpec(
        ident,
        Worker.start_link,
        (ident, record),
        kwargs,
        restart=restart,
        shutdown=shutdown,
    )


def pid_of(sup, ident):
    return next(c.pid for c in Supervisor.which_children(sup) if c.id == ident)


def crash(pid) -> None:
    ref = greensup.monitor(pid)
    with pytest.raises(greensup.ServerExit):
        greensup.call(pid, "crash")
    greensup.receive(10, lambda m: type(m) is Down and m.ref == ref)


def wait_down(ref, timeout=10.0):
    return greensup.receive(timeout, lambda m: type(m) is Down and m.ref == ref)


def test_children_start_in_order_and_stop_in_reverse_order() -> None:
    record: list = []
    sup = Supervisor.start_link([spec(n, record) for n in "abc"])

    Supervisor.stop(sup)

    assert record == [
        ("start", "a"),
        ("start", "b"),
        ("start", "c"),
        ("stop", "c", "shutdown"),
        ("stop", "b", "shutdown"),
        ("stop", "a", "shutdown"),
    ]


def test_children_may_be_genserver_classes_or_class_arg_pairs() -> None:
    class Plain(GenServer):
        def init(self, arg=None) -> None:
            self.arg = arg

        def handle_call(self, request, caller):
            return self.arg

    sup = Supervisor.start_link([(Plain, 42)])

    assert Supervisor.which_children(sup) == [
        (Plain, pid_of(sup, Plain), "worker", "permanent")
    ]
    assert greensup.call(pid_of(sup, Plain), "arg") == 42
    Supervisor.stop(sup)


def test_one_for_one_restarts_only_the_crashed_child(error_reports) -> None:
    record: list = []
    sup = Supervisor.start_link([spec(n, record) for n in "abc"])
    old = pid_of(sup, "b")
    record.clear()

    crash(old)
    wait_for(lambda: pid_of(sup, "b") not in (None, old))

    assert record[-1] == ("start", "b")
    assert [r[0] for r in record] == ["stop", "start"]
    Supervisor.stop(sup)


def test_one_for_all_stops_others_in_reverse_then_starts_all_in_order(
    error_reports,
) -> None:
    record: list = []
    sup = Supervisor.start_link(
        [spec(n, record) for n in "abcd"], strategy="one_for_all"
    )
    b = pid_of(sup, "b")
    record.clear()

    crash(b)
    wait_for(lambda: len(record) == 8)

    assert record[0][:2] == ("stop", "b")
    assert record[1:] == [
        ("stop", "d", "shutdown"),
        ("stop", "c", "shutdown"),
        ("stop", "a", "shutdown"),
        ("start", "a"),
        ("start", "b"),
        ("start", "c"),
        ("start", "d"),
    ]
    Supervisor.stop(sup)


def test_rest_for_one_restarts_the_crashed_child_and_those_after_it(
    error_reports,
) -> None:
    record: list = []
    sup = Supervisor.start_link(
        [spec(n, record) for n in "abcd"], strategy="rest_for_one"
    )
    record.clear()

    crash(pid_of(sup, "b"))
    wait_for(lambda: len(record) == 6)

    assert record[0][:2] == ("stop", "b")
    assert record[1:] == [
        ("stop", "d", "shutdown"),
        ("stop", "c", "shutdown"),
        ("start", "b"),
        ("start", "c"),
        ("start", "d"),
    ]
    Supervisor.stop(sup)


def test_transient_child_that_exits_normally_is_not_restarted() -> None:
    record: list = []
    sup = Supervisor.start_link([spec("t", record, restart="transient")])

    assert greensup.call(pid_of(sup, "t"), "exit normal") == "bye"
    wait_for(lambda: pid_of(sup, "t") is None)

    assert Supervisor.which_children(sup) == [("t", None, "worker", "transient")]
    Supervisor.stop(sup)


def test_transient_child_that_crashes_is_restarted(error_reports) -> None:
    record: list = []
    sup = Supervisor.start_link([spec("t", record, restart="transient")])
    old = pid_of(sup, "t")

    crash(old)

    wait_for(lambda: pid_of(sup, "t") not in (None, old))
    Supervisor.stop(sup)


def test_temporary_child_spec_is_removed_when_it_exits(error_reports) -> None:
    record: list = []
    sup = Supervisor.start_link([spec("tmp", record, restart="temporary")])

    crash(pid_of(sup, "tmp"))

    wait_for(lambda: Supervisor.which_children(sup) == [])
    Supervisor.stop(sup)


def test_restart_intensity_allows_max_restarts_then_gives_up(error_reports) -> None:
    record: list = []
    with freeze_time("2026-01-01 00:00:00"):
        sup = Supervisor.start_link([spec("a", record)], max_restarts=2, max_seconds=5)
        greensup.trap_exit(True)
        greensup.link(sup)
        for _ in range(2):
            old = pid_of(sup, "a")
            crash(old)
            wait_for(lambda old=old: pid_of(sup, "a") not in (None, old))

        crash(pid_of(sup, "a"))

        exit_msg = greensup.receive(10, lambda m: type(m) is Exit and m.pid == sup)
    assert exit_msg.reason == "shutdown"
    gave_up = [
        r
        for r in error_reports
        if r.report.get("error") == "reached_max_restart_intensity"
    ]
    assert len(gave_up) == 1


def test_restarts_older_than_max_seconds_do_not_count(error_reports) -> None:
    record: list = []
    with freeze_time("2026-01-01 00:00:00") as clock:
        sup = Supervisor.start_link([spec("a", record)], max_restarts=1, max_seconds=5)
        for _ in range(3):
            old = pid_of(sup, "a")
            crash(old)
            wait_for(lambda old=old: pid_of(sup, "a") not in (None, old))
            clock.tick(6)

        assert sup.alive
    Supervisor.stop(sup)


def test_supervisor_giving_up_is_restarted_by_its_own_supervisor(
    error_reports,
) -> None:
    record: list = []
    inner = ChildSpec(
        "inner",
        Supervisor.start_link,
        ([spec("a", record)],),
        {"max_restarts": 0},
        type="supervisor",
    )
    with freeze_time("2026-01-01 00:00:00"):
        root = Supervisor.start_link([inner], max_restarts=5)
        first_inner = pid_of(root, "inner")
        ref = greensup.monitor(first_inner)

        crash(pid_of(first_inner, "a"))

        assert wait_down(ref).reason == "shutdown"
        wait_for(lambda: pid_of(root, "inner") not in (None, first_inner))
    assert pid_of(pid_of(root, "inner"), "a").alive
    Supervisor.stop(root)


def test_child_failing_in_init_during_restart_counts_as_a_restart(
    error_reports,
) -> None:
    record: list = []
    attempts = []

    def flaky_start():
        attempts.append(1)
        if len(attempts) > 1:
            raise RuntimeError("cannot come back")
        return Worker.start_link("f", record)

    greensup.trap_exit(True)
    with freeze_time("2026-01-01 00:00:00"):
        sup = Supervisor.start_link([ChildSpec("f", flaky_start)], max_restarts=3)
        greensup.link(sup)

        crash(pid_of(sup, "f"))

        exit_msg = greensup.receive(10, lambda m: type(m) is Exit and m.pid == sup)
    assert exit_msg.reason == "shutdown"
    assert len(attempts) == 1 + 3  # the first start and the 3 restarts allowed


def test_start_failure_stops_earlier_children_in_reverse_and_raises(
    error_reports,
) -> None:
    record: list = []
    children = [spec("a", record), spec("b", record), spec("c", record, fail=True)]

    with pytest.raises(greensup.StartError) as info:
        Supervisor.start_link(children)

    assert "child 'c' of supervisor" in str(info.value)
    assert "RuntimeError: c cannot start" in str(info.value)
    assert record == [
        ("start", "a"),
        ("start", "b"),
        ("stop", "b", "shutdown"),
        ("stop", "a", "shutdown"),
    ]


def test_shutdown_gives_a_trapping_child_its_terminate_and_time() -> None:
    record: list = []
    sup = Supervisor.start_link([spec("slow", record, linger=0.05, shutdown=10)])

    Supervisor.stop(sup)

    assert record[-1] == ("stop", "slow", "shutdown")


def test_child_overrunning_its_shutdown_is_killed_with_a_warning(caplog) -> None:
    record: list = []
    sup = Supervisor.start_link([spec("stuck", record, linger=30, shutdown=0.05)])
    child = pid_of(sup, "stuck")
    ref = greensup.monitor(child)

    with caplog.at_level(logging.WARNING, logger="greensup.supervisor"):
        Supervisor.stop(sup)

    assert wait_down(ref).reason == "killed"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].report["error"] == "shutdown_timeout"
    assert record == [("start", "stuck")]


def test_brutal_kill_kills_at_once_without_terminate() -> None:
    record: list = []
    sup = Supervisor.start_link([spec("b", record, shutdown="brutal_kill")])
    ref = greensup.monitor(pid_of(sup, "b"))

    Supervisor.stop(sup)

    assert wait_down(ref).reason == "killed"
    assert record == [("start", "b")]


def test_infinity_shutdown_waits_for_the_child() -> None:
    record: list = []
    sup = Supervisor.start_link([spec("i", record, linger=0.1, shutdown="infinity")])

    Supervisor.stop(sup)

    assert record[-1] == ("stop", "i", "shutdown")


def test_child_exiting_by_itself_during_terminate_child_is_no_error() -> None:
    record: list = []
    sup = Supervisor.start_link([spec("q", record, restart="transient")])
    child = pid_of(sup, "q")
    greensup.call(child, "exit normal")

    Supervisor.terminate_child(sup, "q")

    assert Supervisor.which_children(sup) == [("q", None, "worker", "transient")]
    Supervisor.stop(sup)


def test_no_child_outlives_a_killed_supervisor() -> None:
    record: list = []
    sup = Supervisor.start_link([spec(n, record, trap=False) for n in "ab"])
    refs = [greensup.monitor(c.pid) for c in Supervisor.which_children(sup)]
    greensup.unlink(sup)

    greensup.exit(sup, "kill")

    assert [wait_down(r).reason for r in refs] == ["killed", "killed"]


def test_start_child_terminate_restart_and_delete() -> None:
    record: list = []
    sup = Supervisor.start_link([])

    pid = Supervisor.start_child(sup, spec("x", record))
    with pytest.raises(greensup.AlreadyStarted, match=r"already has a child with id"):
        Supervisor.start_child(sup, spec("x", record))
    Supervisor.terminate_child(sup, "x")
    assert not pid.alive
    new = Supervisor.restart_child(sup, "x")
    assert new.alive and new != pid
    with pytest.raises(ValueError, match=r"it is running; terminate it first$"):
        Supervisor.delete_child(sup, "x")
    Supervisor.terminate_child(sup, "x")
    Supervisor.delete_child(sup, "x")

    assert Supervisor.which_children(sup) == []
    with pytest.raises(greensup.NotFound, match=r"has no child with id 'x'$"):
        Supervisor.terminate_child(sup, "x")
    Supervisor.stop(sup)


def test_count_children_counts_specs_active_supervisors_and_workers() -> None:
    record: list = []
    inner = ChildSpec("inner", Supervisor.start_link, ([],), type="supervisor")
    sup = Supervisor.start_link([spec("a", record), inner])
    Supervisor.terminate_child(sup, "a")

    counts = Supervisor.count_children(sup)

    assert counts == {"specs": 2, "active": 1, "supervisors": 1, "workers": 1}
    Supervisor.stop(sup)


def test_format_tree_shows_supervisors_children_and_restarts(error_reports) -> None:
    record: list = []
    inner = ChildSpec(
        "inner", Supervisor.start_link, ([spec("w", record)],), type="supervisor"
    )
    root = Supervisor.start_link([inner], name="root")
    crash(pid_of(pid_of(root, "inner"), "w"))
    wait_for(lambda: pid_of(pid_of(root, "inner"), "w") is not None)

    text = greensup.format_tree("root")

    lines = text.splitlines()
    assert lines[0].startswith("root <0.") and "recent=0" in lines[0]
    assert lines[1].startswith("  'inner' <0.") and "recent=1" in lines[1]
    assert lines[2].startswith("    'w' <0.") and "restarts=1" in lines[2]
    Supervisor.stop(root)


def test_supervisor_reports_crash_and_restart_once(error_reports, caplog) -> None:
    record: list = []
    sup = Supervisor.start_link([spec("a", record)], name="sup")
    old = pid_of(sup, "a")

    with caplog.at_level(logging.INFO, logger="greensup.supervisor"):
        crash(old)
        wait_for(lambda: pid_of(sup, "a") not in (None, old))

    reports = [r.report for r in caplog.records if r.name == "greensup.supervisor"]
    assert [r["kind"] for r in reports] == ["supervisor report", "progress report"]
    assert reports[0]["supervisor"] == "sup" and reports[0]["action"] == "restart"
    assert reports[0]["pid"] == old
    first = next(r for r in caplog.records if r.name == "greensup.supervisor")
    assert first.getMessage().startswith(
        "supervisor report: supervisor=sup error=child_terminated child_id='a' pid=<0."
    )
    Supervisor.stop(sup)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"strategy": "one_for_some"},
            ValueError,
            r"^strategy must be one of 'one_for_one', 'one_for_all', 'rest_for_one'; "
            r"got 'one_for_some'$",
        ),
        ({"max_restarts": -1}, ValueError, r"^max_restarts must not be negative"),
        ({"max_seconds": 0}, ValueError, r"^max_seconds must be positive"),
        ({"max_seconds": float("inf")}, ValueError, r"^max_seconds must be a finite"),
    ],
)
def test_bad_supervisor_options_raise_clear_errors(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        Supervisor.start_link([], **kwargs)


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        (
            {"restart": "always"},
            ValueError,
            r"^restart must be one of 'permanent', 'transient', 'temporary'; "
            r"got 'always'$",
        ),
        ({"type": "manager"}, ValueError, r"^type must be one of 'worker', 'super"),
        ({"shutdown": -1}, ValueError, r"^child spec 'x': shutdown must not be neg"),
        ({"shutdown": "soon"}, ValueError, r"^child spec 'x': shutdown must be secon"),
        ({"shutdown": float("nan")}, ValueError, r"shutdown must be a finite number"),
        ({"start": "not callable"}, TypeError, r"^child spec 'x': start must be call"),
        (
            {"args": "abc"},
            TypeError,
            r"^child spec 'x': args must be a tuple, got 'abc'",
        ),
        ({"kwargs": [1]}, TypeError, r"^child spec 'x': kwargs must be a dict, got"),
    ],
)
def test_malformed_child_spec_names_the_field_and_value(fields, error, message):
    arguments = {"id": "x", "start": Worker.start_link, **fields}

    with pytest.raises(error, match=message):
        ChildSpec(**arguments)


def test_a_child_that_is_not_a_spec_or_genserver_raises_type_error() -> None:
    with pytest.raises(TypeError, match=r"^a child must be a ChildSpec, a GenServer"):
        Supervisor.start_link(["worker"])


def test_duplicate_child_ids_raise_already_started() -> None:
    record: list = []

    with pytest.raises(greensup.AlreadyStarted, match=r"^two children have the id"):
        Supervisor.start_link([spec("a", record), spec("a", record)])


def test_start_function_returning_an_unlinked_pid_fails_the_start(
    error_reports,
) -> None:
    loose = []

    def unlinked():
        pid = greensup.spawn(greensup.receive)
        loose.append(pid)
        return pid

    with pytest.raises(greensup.StartError, match=r"not linked to its supervisor"):
        Supervisor.start_link([ChildSpec("loose", unlinked)])
    greensup.exit(loose[0], "kill")


def test_the_exit_that_exceeds_the_intensity_is_reported_with_action_shutdown(
    error_reports,
) -> None:
    record: list = []
    greensup.trap_exit(True)
    sup = Supervisor.start_link([spec("a", record)], max_restarts=0)
    greensup.link(sup)

    crash(pid_of(sup, "a"))
    greensup.receive(10, lambda m: type(m) is Exit and m.pid == sup)

    reports = [r.report for r in error_reports if r.name == "greensup.supervisor"]
    assert [(r["error"], r["action"]) for r in reports] == [
        ("child_terminated", "shutdown"),
        ("reached_max_restart_intensity", "shutdown"),
    ]


def test_supervisor_functions_on_a_genserver_raise_type_error() -> None:
    record: list = []
    pid = Worker.start("w", record)

    with pytest.raises(TypeError, match=r"it is Worker, not a supervisor$"):
        Supervisor.which_children(pid)
    with pytest.raises(TypeError, match=r"not a supervisor$"):
        greensup.format_tree(pid)

    assert pid.alive
    greensup.stop(pid)


def test_an_unknown_call_to_a_supervisor_gets_an_error_and_leaves_it_running() -> None:
    sup = Supervisor.start_link([])

    answer = greensup.call(sup, "hello")

    assert isinstance(answer, ValueError)
    assert str(answer).endswith("does not understand 'hello'")
    Supervisor.stop(sup)

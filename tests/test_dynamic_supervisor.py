"""DynamicSupervisor: children added at run time, limits, restarts, shutdown."""

from __future__ import annotations

import gevent.event
import pytest
from freezegun import freeze_time

import greensup
from greensup import ChildSpec, Down, DynamicSupervisor, Exit, GenServer
from tests.conftest import wait_for


class Echo(GenServer):
    def init(self, tag="echo") -> None:
        self.tag = tag

    def handle_call(self, request, caller):
        if request == "crash":
            raise RuntimeError("echo crashed")
        return self.tag


def wait_down(ref, timeout=10.0):
    return greensup.receive(timeout, lambda m: type(m) is Down and m.ref == ref)


def crash(pid) -> None:
    ref = greensup.monitor(pid)
    with pytest.raises(greensup.ServerExit):
        greensup.call(pid, "crash")
    wait_down(ref)


def pids(sup):
    return [c.pid for c in DynamicSupervisor.which_children(sup)]


def test_start_child_starts_a_supervised_child() -> None:
    sup = DynamicSupervisor.start_link()

    pid = DynamicSupervisor.start_child(sup, (Echo, "hi"))

    assert greensup.call(pid, "x") == "hi"
    assert DynamicSupervisor.which_children(sup) == [(None, pid, "worker", "permanent")]
    DynamicSupervisor.stop(sup)


def test_start_child_past_max_children_raises_max_children() -> None:
    sup = DynamicSupervisor.start_link(max_children=2, name="pool")
    DynamicSupervisor.start_child(sup, Echo)
    DynamicSupervisor.start_child(sup, Echo)

    with pytest.raises(greensup.MaxChildren, match=r"^dynamic supervisor pool is at"):
        DynamicSupervisor.start_child(sup, Echo)

    DynamicSupervisor.stop(sup)


def test_restarted_permanent_child_still_holds_its_slot(error_reports) -> None:
    sup = DynamicSupervisor.start_link(max_children=1)
    old = DynamicSupervisor.start_child(sup, Echo)

    crash(old)
    wait_for(lambda: pids(sup) and pids(sup)[0] != old)

    assert DynamicSupervisor.count_children(sup)["active"] == 1
    with pytest.raises(greensup.MaxChildren):
        DynamicSupervisor.start_child(sup, Echo)
    DynamicSupervisor.stop(sup)


def test_temporary_child_is_forgotten_when_it_exits(error_reports) -> None:
    sup = DynamicSupervisor.start_link()
    spec = ChildSpec("t", Echo.start_link, restart="temporary")
    pid = DynamicSupervisor.start_child(sup, spec)

    crash(pid)

    wait_for(lambda: pids(sup) == [])
    DynamicSupervisor.stop(sup)


def test_terminate_child_stops_it_and_forgets_it() -> None:
    sup = DynamicSupervisor.start_link()
    pid = DynamicSupervisor.start_child(sup, Echo)

    DynamicSupervisor.terminate_child(sup, pid)

    assert not pid.alive and pids(sup) == []
    DynamicSupervisor.stop(sup)


def test_terminate_child_of_an_unknown_pid_raises_not_found() -> None:
    sup = DynamicSupervisor.start_link()
    stranger = greensup.spawn(greensup.receive)

    with pytest.raises(greensup.NotFound, match=r"has no child <0\.\d+\.0>$"):
        DynamicSupervisor.terminate_child(sup, stranger)

    greensup.exit(stranger, "kill")
    DynamicSupervisor.stop(sup)


def test_count_children_reports_workers_and_supervisors() -> None:
    sup = DynamicSupervisor.start_link()
    DynamicSupervisor.start_child(sup, Echo)
    inner = ChildSpec("inner", DynamicSupervisor.start_link, type="supervisor")
    DynamicSupervisor.start_child(sup, inner)

    counts = DynamicSupervisor.count_children(sup)

    assert counts == {"specs": 2, "active": 2, "supervisors": 1, "workers": 1}
    DynamicSupervisor.stop(sup)


def test_restart_intensity_stops_the_dynamic_supervisor(error_reports) -> None:
    greensup.trap_exit(True)
    with freeze_time("2026-01-01"):
        sup = DynamicSupervisor.start_link(max_restarts=1)
        greensup.link(sup)
        first = DynamicSupervisor.start_child(sup, Echo)
        crash(first)
        wait_for(lambda: pids(sup) and pids(sup)[0] != first)

        crash(pids(sup)[0])

        msg = greensup.receive(10, lambda m: type(m) is Exit and m.pid == sup)
    assert msg.reason == "shutdown"


def test_shutdown_asks_all_children_to_stop_at_once() -> None:
    """Each child's terminate waits until every child has begun terminating:
    stopped one by one they would be killed after their shutdown time."""
    count = 5
    began = []
    everyone = gevent.event.Event()
    record = []

    class Patient(GenServer):
        def init(self) -> None:
            greensup.trap_exit(True)

        def terminate(self, reason) -> None:
            began.append(self.pid)
            if len(began) == count:
                everyone.set()
            everyone.wait(5)
            record.append(everyone.is_set())

    sup = DynamicSupervisor.start_link()
    spec = ChildSpec("p", Patient.start_link, shutdown=5)
    for _ in range(count):
        DynamicSupervisor.start_child(sup, spec)

    DynamicSupervisor.stop(sup)

    assert record == [True] * count


def test_bad_max_children_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"^max_children must be a positive int"):
        DynamicSupervisor.start_link(max_children=0)

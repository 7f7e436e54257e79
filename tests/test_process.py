"""Processes: spawn, messages and selective receive, links, monitors, exit signals."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

import gevent
import pytest

import greensup
from greensup import Down, Exit
from tests.conftest import wait_for


def wait_down(ref: greensup.Ref, timeout: float = 10.0) -> Down:
    return greensup.receive(timeout, lambda m: type(m) is Down and m.ref == ref)


def idle() -> None:
    greensup.receive()


# -- pids ------------------------------------------------------------------


def test_pid_is_hashable_comparable_and_reads_like_erlang() -> None:
    pid, other = greensup.spawn(idle), greensup.spawn(idle)

    assert pid == pid and hash(pid) == hash(pid)
    assert pid != other
    assert {pid: 1}[pid] == 1
    assert re.fullmatch(r"<0\.\d+\.0>", repr(pid))

    greensup.exit(pid, "kill")
    greensup.exit(other, "kill")


def test_pid_alive_turns_false_when_the_process_exits() -> None:
    pid, ref = greensup.spawn_monitor(idle)
    assert pid.alive

    greensup.send(pid, "go")
    wait_down(ref)

    assert not pid.alive


def test_self_pid_inside_a_spawned_process_is_its_own_pid() -> None:
    me = greensup.self_pid()

    pid = greensup.spawn(lambda: greensup.send(me, greensup.self_pid()))

    assert greensup.receive(10) == pid


def test_self_pid_gives_a_plain_greenlet_a_pid_that_can_receive() -> None:
    def plain() -> object:
        greensup.register("plain")
        return greensup.receive(10)

    glet = gevent.spawn(plain)
    wait_for(lambda: greensup.whereis("plain") is not None)
    greensup.send("plain", "hello")

    assert glet.get(timeout=10) == "hello"
    wait_for(lambda: greensup.whereis("plain") is None)


def test_spawn_passes_arguments_to_the_function() -> None:
    me = greensup.self_pid()

    greensup.spawn(lambda a, b=0: greensup.send(me, a + b), 1, b=2)

    assert greensup.receive(10) == 3


def test_spawn_of_a_non_callable_raises_type_error() -> None:
    with pytest.raises(TypeError, match=r"^spawn needs a callable, got 42$"):
        greensup.spawn(42)  # type: ignore[arg-type]


def test_spawned_function_runs_in_its_own_greenlet_not_in_the_hub() -> None:
    me = greensup.self_pid()

    greensup.spawn(lambda: greensup.send(me, gevent.getcurrent()))

    glet = greensup.receive(10)
    assert glet is not gevent.get_hub() and glet is not gevent.getcurrent()


# -- send and receive ------------------------------------------------------


def test_receive_returns_messages_in_the_order_they_were_sent() -> None:
    me = greensup.self_pid()
    for n in range(5):
        greensup.send(me, n)

    got = [greensup.receive(0) for _ in range(5)]

    assert got == [0, 1, 2, 3, 4]


def test_receive_with_match_takes_oldest_match_and_keeps_the_rest_in_order() -> None:
    me = greensup.self_pid()
    for msg in ["a", 1, "b", 2, "c"]:
        greensup.send(me, msg)

    first_int = greensup.receive(0, match=lambda m: isinstance(m, int))
    rest = [greensup.receive(0) for _ in range(4)]

    assert first_int == 1
    assert rest == ["a", "b", 2, "c"]


def test_receive_waits_for_a_matching_message_sent_later() -> None:
    me = greensup.self_pid()

    def sender() -> None:
        greensup.send(me, "noise")
        gevent.sleep(0)
        greensup.send(me, ("wanted", 7))

    greensup.spawn(sender)
    got = greensup.receive(10, match=lambda m: isinstance(m, tuple))

    assert got == ("wanted", 7)
    assert greensup.receive(0) == "noise"


def test_receive_raises_receive_timeout_when_nothing_matches() -> None:
    greensup.send(greensup.self_pid(), "other")

    with pytest.raises(greensup.ReceiveTimeout, match=r"^receive in <0\.\d+\.0> got"):
        greensup.receive(0.05, match=lambda m: m == "never")

    assert greensup.receive(0) == "other"


def test_receive_timeout_is_a_timeout_error() -> None:
    assert issubclass(greensup.ReceiveTimeout, TimeoutError)
    with pytest.raises(TimeoutError):
        greensup.receive(0)


def test_receive_with_zero_timeout_polls_without_blocking() -> None:
    with pytest.raises(greensup.ReceiveTimeout):
        greensup.receive(timeout=0)


@pytest.mark.parametrize("bad", [-1, -0.5])
def test_receive_with_negative_timeout_raises_value_error(bad: float) -> None:
    with pytest.raises(ValueError, match=r"^timeout must not be negative, got -"):
        greensup.receive(bad)


def test_receive_with_non_numeric_timeout_raises_type_error() -> None:
    with pytest.raises(TypeError, match=r"^timeout must be seconds or None, got '1'$"):
        greensup.receive("1")  # type: ignore[arg-type]


def test_send_to_a_dead_pid_is_silently_dropped() -> None:
    pid, ref = greensup.spawn_monitor(lambda: None)
    wait_down(ref)

    greensup.send(pid, "lost")

    assert not pid.alive


def test_send_to_an_unregistered_name_raises_noproc() -> None:
    with pytest.raises(greensup.NoProc, match=r"^send to 'nobody' failed: no process"):
        greensup.send("nobody", "hi")


@pytest.mark.parametrize("dest", [42, None, b"name", 1.5])
def test_send_to_something_that_is_neither_pid_nor_name_raises_type_error(
    dest: object,
) -> None:
    with pytest.raises(TypeError, match=r"^a destination must be a Pid or a regist"):
        greensup.send(dest, "hi")  # type: ignore[arg-type]


# -- registered names ------------------------------------------------------


def test_registered_name_routes_messages_and_is_freed_on_exit() -> None:
    me = greensup.self_pid()
    pid, ref = greensup.spawn_monitor(lambda: greensup.send(me, greensup.receive()))
    greensup.register("echo", pid)

    greensup.send("echo", "ping")

    assert greensup.whereis("echo") == pid
    assert "echo" in greensup.registered()
    assert greensup.receive(10) == "ping"
    wait_down(ref)
    assert greensup.whereis("echo") is None


def test_register_a_taken_name_raises_already_registered() -> None:
    greensup.register("taken")
    other = greensup.spawn(idle)

    with pytest.raises(greensup.AlreadyRegistered, match=r"^name 'taken' is already"):
        greensup.register("taken", other)

    greensup.exit(other, "kill")
    greensup.unregister("taken")


def test_register_a_second_name_for_a_process_raises_already_registered() -> None:
    greensup.register("first")

    with pytest.raises(greensup.AlreadyRegistered, match=r"already registered as"):
        greensup.register("second")

    greensup.unregister("first")


def test_register_a_dead_process_raises_noproc() -> None:
    pid, ref = greensup.spawn_monitor(lambda: None)
    wait_down(ref)

    with pytest.raises(greensup.NoProc, match=r"the process is not alive$"):
        greensup.register("late", pid)


def test_unregister_an_unknown_name_raises_noproc() -> None:
    with pytest.raises(greensup.NoProc, match=r"^cannot unregister 'ghost'"):
        greensup.unregister("ghost")


def test_register_with_a_non_string_name_raises_type_error() -> None:
    with pytest.raises(TypeError, match=r"^a registered name must be a non-empty"):
        greensup.register(7)  # type: ignore[arg-type]


# -- links -----------------------------------------------------------------


def test_crash_kills_linked_process_with_the_same_reason(error_reports: list) -> None:
    error = ValueError("boom")

    def crash() -> None:
        greensup.receive()
        raise error

    def partner() -> None:
        greensup.link(crasher)
        greensup.receive()

    crasher = greensup.spawn(crash)
    pid, ref = greensup.spawn_monitor(partner)
    wait_for(lambda: crasher in (pid._links or ()))

    greensup.send(crasher, "go")

    assert wait_down(ref).reason is error


def test_crash_is_logged_once_with_its_traceback(error_reports: list) -> None:
    def crash() -> None:
        raise RuntimeError("kaput")

    pid, ref = greensup.spawn_monitor(crash)
    wait_down(ref)

    crashes = [r for r in error_reports if r.name == "greensup"]
    assert len(crashes) == 1
    assert crashes[0].levelno == logging.ERROR
    assert crashes[0].exc_info[1].args == ("kaput",)
    assert crashes[0].report["pid"] == pid


def test_normal_exit_does_not_kill_linked_process() -> None:
    child = greensup.spawn_link(lambda: None)
    ref = greensup.monitor(child)

    wait_down(ref)

    assert greensup.self_pid().alive


def test_trapping_process_gets_exit_message_from_a_linked_crash(
    error_reports: list,
) -> None:
    greensup.trap_exit(True)

    child = greensup.spawn_link(lambda: 1 / 0)

    exit_msg = greensup.receive(10, lambda m: type(m) is Exit)
    assert exit_msg.pid == child
    assert isinstance(exit_msg.reason, ZeroDivisionError)


def test_trapping_process_gets_exit_normal_from_a_linked_normal_exit() -> None:
    greensup.trap_exit(True)

    child = greensup.spawn_link(lambda: None)

    assert greensup.receive(10) == Exit(child, "normal")


def test_unlink_stops_a_crash_from_propagating(error_reports: list) -> None:
    me = greensup.self_pid()

    def child() -> None:
        greensup.receive()
        raise ValueError("alone")

    pid = greensup.spawn_link(child)
    ref = greensup.monitor(pid)
    greensup.unlink(pid)

    greensup.send(pid, "go")

    assert isinstance(wait_down(ref).reason, ValueError)
    assert me.alive


def test_link_to_a_dead_process_delivers_noproc_to_a_trapping_caller() -> None:
    pid, ref = greensup.spawn_monitor(lambda: None)
    wait_down(ref)
    greensup.trap_exit(True)

    greensup.link(pid)

    assert greensup.receive(0) == Exit(pid, "noproc")


def test_link_to_a_dead_process_makes_a_non_trapping_caller_exit_noproc() -> None:
    dead, ref = greensup.spawn_monitor(lambda: None)
    wait_down(ref)

    def linker() -> None:
        greensup.link(dead)
        greensup.receive()

    pid, ref2 = greensup.spawn_monitor(linker)

    assert wait_down(ref2).reason == "noproc"


def test_link_to_an_unknown_name_raises_noproc() -> None:
    with pytest.raises(greensup.NoProc, match=r"^link to 'nobody' failed"):
        greensup.link("nobody")


def test_spawn_link_links_both_ways() -> None:
    def parent() -> None:
        greensup.spawn_link(idle)
        greensup.receive()

    pid, ref = greensup.spawn_monitor(parent)
    wait_for(lambda: pid._links)
    (child,) = pid._links
    child_ref = greensup.monitor(child)

    greensup.exit(pid, "boom")

    assert wait_down(ref).reason == "boom"
    assert wait_down(child_ref).reason == "boom"


# -- monitors --------------------------------------------------------------


def test_monitor_delivers_down_exactly_once() -> None:
    pid = greensup.spawn(idle)
    ref = greensup.monitor(pid)

    greensup.exit(pid, "bye")

    assert wait_down(ref) == Down(ref, pid, "bye")
    with pytest.raises(greensup.ReceiveTimeout):
        greensup.receive(0.05, lambda m: type(m) is Down)


def test_monitor_of_a_dead_process_delivers_noproc_at_once() -> None:
    pid, first = greensup.spawn_monitor(lambda: None)
    wait_down(first)

    ref = greensup.monitor(pid)

    assert greensup.receive(0) == Down(ref, pid, "noproc")


def test_monitor_of_an_unknown_name_delivers_noproc_at_once() -> None:
    ref = greensup.monitor("nobody")

    assert greensup.receive(0) == Down(ref, "nobody", "noproc")


def test_monitor_by_name_watches_the_named_process() -> None:
    pid = greensup.spawn(idle)
    greensup.register("watched", pid)
    ref = greensup.monitor("watched")

    greensup.exit(pid, "kill")

    assert wait_down(ref) == Down(ref, pid, "killed")


def test_demonitor_stops_the_down_message() -> None:
    pid = greensup.spawn(idle)
    ref = greensup.monitor(pid)

    assert greensup.demonitor(ref) is True
    greensup.exit(pid, "kill")
    wait_for(lambda: not pid.alive)

    with pytest.raises(greensup.ReceiveTimeout):
        greensup.receive(0.05)


def test_demonitor_with_flush_removes_a_delivered_down() -> None:
    pid, ref = greensup.spawn_monitor(lambda: None)
    wait_for(lambda: len(greensup.self_pid()._mailbox) == 1)

    greensup.demonitor(ref, flush=True)

    with pytest.raises(greensup.ReceiveTimeout):
        greensup.receive(0)


def test_spawn_monitor_watches_from_before_the_process_runs() -> None:
    pid, ref = greensup.spawn_monitor(lambda: None)

    assert wait_down(ref) == Down(ref, pid, "normal")


# -- exit signals ----------------------------------------------------------


def test_exit_kill_cannot_be_trapped_and_links_and_monitors_see_killed() -> None:
    greensup.trap_exit(True)

    def trapper() -> None:
        greensup.trap_exit(True)
        while True:
            greensup.receive()

    pid = greensup.spawn_link(trapper)
    ref = greensup.monitor(pid)

    greensup.exit(pid, "kill")

    assert wait_down(ref).reason == "killed"
    assert greensup.receive(10, lambda m: type(m) is Exit) == Exit(pid, "killed")


def test_exit_to_a_trapping_process_arrives_as_a_message() -> None:
    me = greensup.self_pid()

    def trapper() -> None:
        greensup.trap_exit(True)
        greensup.send(me, "ready")
        greensup.send(me, greensup.receive())

    pid = greensup.spawn(trapper)
    greensup.receive(10)

    greensup.exit(pid, "please")

    assert greensup.receive(10) == Exit(me, "please")


def test_exit_normal_is_ignored_by_a_non_trapping_process() -> None:
    pid = greensup.spawn(idle)

    greensup.exit(pid, "normal")
    gevent.sleep(0)

    assert pid.alive
    greensup.exit(pid, "kill")


def test_exit_normal_to_itself_makes_a_process_exit_normal() -> None:
    pid, ref = greensup.spawn_monitor(
        lambda: greensup.exit(greensup.self_pid(), "normal")
    )

    assert wait_down(ref).reason == "normal"


def test_process_killed_before_it_first_ran_never_runs_its_function() -> None:
    ran = []

    pid, ref = greensup.spawn_monitor(ran.append, "ran")
    greensup.exit(pid, "kill")

    assert wait_down(ref).reason == "killed"
    gevent.sleep(0)
    assert ran == []


def test_catching_base_exception_does_not_survive_a_kill() -> None:
    me = greensup.self_pid()
    attempts = []

    def stubborn() -> None:
        greensup.send(me, "ready")
        while len(attempts) < 3:
            try:
                greensup.receive()
            except BaseException as exc:
                attempts.append(exc)

    pid, ref = greensup.spawn_monitor(stubborn)
    greensup.receive(10)
    greensup.send(pid, "one")  # keep it looping until the kill

    greensup.exit(pid, "kill")

    assert wait_down(ref).reason == "killed"
    assert not pid.alive
    wait_for(lambda: len(attempts) >= 1)
    greensup.send(pid, "anyone there?")
    assert greensup.whereis("stubborn") is None


def test_exit_with_an_unknown_name_raises_noproc() -> None:
    with pytest.raises(greensup.NoProc, match=r"^exit signal to 'nobody' failed"):
        greensup.exit("nobody", "kill")


def test_trap_exit_returns_the_previous_setting() -> None:
    assert greensup.trap_exit(True) is False
    assert greensup.trap_exit(False) is True


def test_linked_killed_process_is_not_logged_as_a_crash(error_reports: list) -> None:
    def parent() -> None:
        greensup.spawn_link(lambda: 1 / 0)
        greensup.receive()

    pid, ref = greensup.spawn_monitor(parent)

    assert isinstance(wait_down(ref).reason, ZeroDivisionError)
    assert len([r for r in error_reports if r.name == "greensup"]) == 1


def test_crash_in_a_process_leaves_the_hub_running(error_reports: list) -> None:
    for _ in range(20):
        greensup.spawn(lambda: 1 / 0)
    me = greensup.self_pid()

    greensup.spawn(lambda: greensup.send(me, "still turning"))

    assert greensup.receive(10) == "still turning"


def test_a_plain_gevent_greenlet_with_a_pid_reports_its_exit_to_monitors() -> None:
    me = greensup.self_pid()

    def plain() -> None:
        greensup.send(me, greensup.self_pid())
        gevent.sleep(0.01)

    glet = gevent.spawn(plain)
    pid = greensup.receive(10)
    ref = greensup.monitor(pid)

    assert wait_down(ref).reason == "normal"
    glet.join()


def test_exit_signal_to_a_plain_gevent_greenlet_kills_it() -> None:
    me = greensup.self_pid()

    def plain() -> None:
        greensup.send(me, greensup.self_pid())
        gevent.sleep(30)

    glet = gevent.spawn(plain)
    pid = greensup.receive(10)
    ref = greensup.monitor(pid)

    greensup.exit(pid, "stop now")

    assert wait_down(ref).reason == "stop now"
    glet.join(10)
    assert glet.dead


def test_messages_from_links_monitors_and_timers_are_handled_outside_the_hub() -> None:
    me = greensup.self_pid()
    hub = gevent.get_hub()

    def watcher() -> None:
        greensup.trap_exit(True)
        greensup.spawn_link(lambda: None)
        greensup.spawn_monitor(lambda: None)
        greensup.timer.send_after(0, greensup.self_pid(), "tick")
        for _ in range(3):
            greensup.receive(10)
            greensup.send(me, gevent.getcurrent() is hub)

    greensup.spawn(watcher)

    assert [greensup.receive(10) for _ in range(3)] == [False] * 3


def test_send_from_another_os_thread_wakes_the_receiver() -> None:
    me = greensup.self_pid()

    gevent.get_hub().threadpool.spawn(greensup.send, me, "from a thread")

    assert greensup.receive(10) == "from a thread"


def test_reply_from_another_os_thread_reaches_the_caller() -> None:
    class Offloader(greensup.GenServer):
        def handle_call(self, request, caller):
            gevent.get_hub().threadpool.spawn(self.reply, caller, request * 2)
            return greensup.NoReply

    pid = Offloader.start()

    assert greensup.call(pid, 21) == 42
    greensup.stop(pid)


@pytest.mark.parametrize("timeout", [float("nan"), float("inf")])
def test_receive_with_a_timeout_that_is_not_finite_raises_value_error(timeout) -> None:
    with pytest.raises(ValueError, match=r"^timeout must be a finite number of sec"):
        greensup.receive(timeout)


def test_gevent_timeout_escaping_a_process_is_a_crash(error_reports: list) -> None:
    def impatient() -> None:
        with gevent.Timeout(0.01):
            gevent.sleep(10)

    pid, ref = greensup.spawn_monitor(impatient)

    assert isinstance(wait_down(ref).reason, gevent.Timeout)
    assert len(error_reports) == 1


def test_spawn_passes_keyword_arguments_named_like_its_own_parameter() -> None:
    me = greensup.self_pid()

    greensup.spawn(lambda fn: greensup.send(me, fn), fn="mine")

    assert greensup.receive(10) == "mine"


def test_receive_with_a_match_that_is_not_callable_raises_type_error() -> None:
    with pytest.raises(TypeError, match=r"^match must be a function or None, got 5$"):
        greensup.receive(0, match=5)  # type: ignore[arg-type]


def test_demonitor_of_something_else_than_a_ref_raises_type_error() -> None:
    with pytest.raises(TypeError, match=r"^demonitor needs the Ref from monitor"):
        greensup.demonitor("x")  # type: ignore[arg-type]


def test_trap_exit_with_a_non_bool_raises_type_error() -> None:
    with pytest.raises(TypeError, match=r"^trap_exit needs True or False, got 'yes'$"):
        greensup.trap_exit("yes")  # type: ignore[arg-type]


def test_process_exit_in_a_linked_greenlet_names_the_sender() -> None:
    def plain() -> None:
        greensup.link(partner)
        gevent.sleep(30)

    partner = greensup.spawn(greensup.receive)
    glet = gevent.spawn(plain)
    wait_for(lambda: partner._links)

    greensup.exit(partner, "boom")
    glet.join(10)

    assert isinstance(glet.value, greensup.ProcessExit)
    assert str(glet.value) == f"exit signal from {partner!r}: 'boom'"


def test_sends_from_other_threads_keep_their_order_during_selective_receive() -> None:
    me = greensup.self_pid()
    count = 2000

    def sender(tag: str) -> None:
        for n in range(count):
            greensup.send(me, (tag, n))

    pool = gevent.get_hub().threadpool
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, to meet every race
    try:
        jobs = [pool.spawn(sender, tag) for tag in ("a", "b")]
        got_b = [greensup.receive(10, lambda m: m[0] == "b")[1] for _ in range(count)]
        got_a = [greensup.receive(10)[1] for _ in range(count)]
        for job in jobs:
            job.get(timeout=10)
    finally:
        sys.setswitchinterval(interval)

    assert got_a == list(range(count)) and got_b == list(range(count))


def test_messages_flow_in_a_monkey_patched_program(tmp_path) -> None:
    script = tmp_path / "patched.py"
    script.write_text(
        "from gevent import monkey\n"
        "monkey.patch_all()\n"
        "import gevent, greensup\n"
        "class Echo(greensup.GenServer):\n"
        "    def handle_call(self, request, caller):\n"
        "        return request\n"
        "pid = Echo.start()\n"
        "task = gevent.spawn(greensup.call, pid, 'patched')\n"
        "print(task.get(timeout=10))\n"
    )

    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )

    assert done.stdout == "patched\n", done.stderr

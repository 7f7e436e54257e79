"""GenServer: start, call, cast, info, stop, terminate, replies and failures."""

from __future__ import annotations

import gevent
import pytest

import greensup
from greensup import Down, Exit, GenServer, NoReply, Stop
from tests.conftest import wait_for


class Counter(GenServer):
    def init(self, start: int = 0, record: list | None = None) -> None:
        self.count = start
        self.record = record if record is not None else []

    def handle_call(self, request, caller):
        if request == "get":
            return self.count
        if request == "crash":
            raise RuntimeError("asked to crash")
        if request == "stop":
            raise Stop("normal", reply="stopping")
        if isinstance(request, tuple) and request[0] == "sleep":
            gevent.sleep(request[1])
            return "slept"
        if request == "later":
            self.pending = caller
            return NoReply
        if request == "answer":
            self.reply(self.pending, "deferred")
            return "done"
        if request == "whoami":
            return caller.pid
        return None

    def handle_cast(self, request) -> None:
        self.count += request

    def handle_info(self, msg) -> None:
        self.record.append(("info", msg))

    def terminate(self, reason) -> None:
        self.record.append(("terminate", reason))


def wait_down(ref, timeout: float = 10.0) -> Down:
    return greensup.receive(timeout, lambda m: type(m) is Down and m.ref == ref)


def test_start_runs_init_before_returning() -> None:
    pid = Counter.start(5)

    assert greensup.call(pid, "get") == 5
    greensup.stop(pid)


def test_start_with_name_registers_the_server() -> None:
    pid = Counter.start(name="counter")

    assert greensup.whereis("counter") == pid
    assert greensup.call("counter", "get") == 0
    greensup.stop("counter")
    assert greensup.whereis("counter") is None


def test_start_with_a_taken_name_raises_start_error_and_leaves_no_process() -> None:
    first = Counter.start(name="only")

    with pytest.raises(greensup.StartError, match=r"^start of Counter failed: Alre"):
        Counter.start(name="only")

    greensup.stop(first)


def test_init_exception_raises_start_error_with_cause_and_leaves_no_process() -> None:
    class Broken(GenServer):
        def init(self) -> None:
            raise ValueError("bad config")

    with pytest.raises(greensup.StartError) as info:
        Broken.start_link()

    assert str(info.value) == "start of Broken failed: ValueError: bad config"
    assert isinstance(info.value.__cause__, ValueError)
    assert greensup.self_pid().alive  # the failed linked start did not kill us


def test_init_returning_a_value_raises_start_error_naming_the_rule() -> None:
    class Elixirish(GenServer):
        def init(self):
            return ("ok", {})

    with pytest.raises(greensup.StartError, match=r"it must return None"):
        Elixirish.start()


def test_init_raising_stop_fails_the_start_with_that_reason() -> None:
    class Refuses(GenServer):
        def init(self) -> None:
            raise Stop("not today")

    with pytest.raises(greensup.StartError) as info:
        Refuses.start()

    assert info.value.reason == "not today"


def test_start_of_something_not_a_genserver_raises_type_error() -> None:
    with pytest.raises(TypeError, match=r"^start needs a GenServer subclass"):
        GenServer.start.__func__(int)  # type: ignore[attr-defined]


def test_start_link_links_the_server_to_the_caller() -> None:
    greensup.trap_exit(True)
    pid = Counter.start_link()

    greensup.exit(pid, "kill")

    assert greensup.receive(10, lambda m: type(m) is Exit) == Exit(pid, "killed")


def test_cast_is_handled_in_order_with_calls() -> None:
    pid = Counter.start()

    for n in range(10):
        greensup.cast(pid, n)

    assert greensup.call(pid, "get") == 45
    greensup.stop(pid)


def test_cast_to_a_dead_server_or_unknown_name_never_raises() -> None:
    pid = Counter.start()
    greensup.stop(pid)

    greensup.cast(pid, 1)
    greensup.cast("nobody", 1)

    assert not pid.alive


def test_handle_info_gets_plain_messages() -> None:
    record: list = []
    pid = Counter.start(record=record)

    greensup.send(pid, "hello")
    greensup.call(pid, "get")

    assert record == [("info", "hello")]
    greensup.stop(pid)


def test_caller_pid_is_the_calling_process() -> None:
    pid = Counter.start()

    assert greensup.call(pid, "whoami") == greensup.self_pid()
    greensup.stop(pid)


def test_noreply_defers_the_answer_to_reply() -> None:
    me = greensup.self_pid()
    pid = Counter.start()

    greensup.spawn(lambda: greensup.send(me, greensup.call(pid, "later")))
    wait_for(lambda: hasattr(_server(pid), "pending"))
    greensup.call(pid, "answer")

    assert greensup.receive(10) == "deferred"
    greensup.stop(pid)


def _server(pid):
    import gc

    return next(
        o for o in gc.get_objects() if isinstance(o, GenServer) and o.pid is pid
    )


def test_call_to_a_dead_server_raises_noproc() -> None:
    pid = Counter.start()
    greensup.stop(pid)

    with pytest.raises(greensup.NoProc, match=r"^call to <0\.\d+\.0> failed: the pro"):
        greensup.call(pid, "get")


def test_call_to_an_unknown_name_raises_noproc() -> None:
    with pytest.raises(greensup.NoProc, match=r"^call to 'nobody' failed: no process"):
        greensup.call("nobody", "get")


def test_call_timeout_raises_call_timeout_and_a_late_reply_is_dropped() -> None:
    pid = Counter.start()

    with pytest.raises(greensup.CallTimeout, match=r"^call to <0\.\d+\.0> timed out"):
        greensup.call(pid, ("sleep", 0.2), timeout=0.01)
    next_answer = greensup.call(pid, "get")

    assert next_answer == 0
    with pytest.raises(greensup.ReceiveTimeout):
        greensup.receive(0)  # the late "slept" never reached the mailbox
    greensup.stop(pid)


def test_call_timeout_is_a_timeout_error() -> None:
    assert issubclass(greensup.CallTimeout, TimeoutError)


def test_call_to_a_server_that_crashes_mid_call_raises_server_exit_at_once(
    error_reports: list,
) -> None:
    pid = Counter.start()

    with pytest.raises(greensup.ServerExit) as info:
        greensup.call(pid, "crash", timeout=60)

    assert isinstance(info.value.reason, RuntimeError)
    assert len(error_reports) == 1


def test_calls_queued_behind_a_stop_fail_at_once_with_server_exit() -> None:
    me = greensup.self_pid()
    pid = Counter.start()

    def caller() -> None:
        try:
            greensup.call(pid, "get", timeout=60)
        except greensup.ServerExit as exc:
            greensup.send(me, ("exit", exc.reason))
        except greensup.NoProc:
            greensup.send(me, ("noproc", None))

    blocker = greensup.spawn(lambda: greensup.call(pid, ("sleep", 0.1), timeout=60))
    gevent.sleep(0)
    greensup.spawn(greensup.stop, pid)
    gevent.sleep(0)
    for _ in range(3):
        greensup.spawn(caller)

    answers = [greensup.receive(10) for _ in range(3)]
    assert all(kind in ("exit", "noproc") for kind, _ in answers)
    wait_for(lambda: not blocker.alive)


def test_call_to_a_server_killed_while_calls_are_queued_fails_fast() -> None:
    me = greensup.self_pid()
    pid = Counter.start()

    def caller(request: object) -> None:
        try:
            greensup.call(pid, request, timeout=60)
        except greensup.ServerExit as exc:
            greensup.send(me, exc.reason)

    greensup.spawn(caller, ("sleep", 30))
    for _ in range(3):
        greensup.spawn(caller, "get")
    wait_for(lambda: len(pid._waiting or ()) == 4)

    greensup.exit(pid, "kill")

    assert [greensup.receive(5) for _ in range(4)] == ["killed"] * 4


def test_call_to_itself_raises_value_error_instead_of_deadlocking() -> None:
    me = greensup.self_pid()

    class Selfish(GenServer):
        def handle_call(self, request, caller):
            try:
                greensup.call(self.pid, "again")
            except ValueError as exc:
                return str(exc)

    pid = Selfish.start()

    assert (
        greensup.call(pid, "go")
        == f"call to {pid!r} from itself would never be answered"
    )
    greensup.stop(pid)
    assert me.alive


def test_call_with_negative_timeout_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"^timeout must not be negative"):
        greensup.call("anyone", "x", timeout=-1)


def test_stop_runs_terminate_before_returning() -> None:
    record: list = []
    pid = Counter.start(record=record)

    greensup.stop(pid, "shutdown")

    assert record == [("terminate", "shutdown")]
    assert not pid.alive


def test_stop_of_a_dead_server_raises_noproc() -> None:
    pid = Counter.start()
    greensup.stop(pid)

    with pytest.raises(greensup.NoProc):
        greensup.stop(pid)


def test_stop_raise_in_handle_call_replies_then_stops() -> None:
    record: list = []
    pid = Counter.start(record=record)
    ref = greensup.monitor(pid)

    assert greensup.call(pid, "stop") == "stopping"
    assert wait_down(ref).reason == "normal"
    assert record == [("terminate", "normal")]


def test_crash_in_a_callback_runs_terminate_and_logs_once(error_reports: list) -> None:
    record: list = []
    pid = Counter.start(record=record)
    ref = greensup.monitor(pid)

    greensup.cast(pid, "not a number")

    reason = wait_down(ref).reason
    assert isinstance(reason, TypeError)
    assert record == [("terminate", reason)]
    assert len(error_reports) == 1 and error_reports[0].exc_info[1] is reason


def test_callback_returning_a_value_crashes_with_a_clear_error(
    error_reports: list,
) -> None:
    class Chatty(GenServer):
        def handle_cast(self, request):
            return ("noreply", None)

    pid = Chatty.start()
    ref = greensup.monitor(pid)

    greensup.cast(pid, "x")

    reason = wait_down(ref).reason
    assert str(reason) == (
        "Chatty.handle_cast returned ('noreply', None); it must return None "
        "(raise Stop to stop)"
    )


def test_trapping_server_terminates_on_exit_signal_from_its_parent() -> None:
    record: list = []

    class Trapper(Counter):
        def init(self, record: list) -> None:
            greensup.trap_exit(True)
            self.record = record

    def parent() -> None:
        Trapper.start_link(record)
        greensup.receive()

    parent_pid, ref = greensup.spawn_monitor(parent)
    wait_for(lambda: parent_pid._links)
    (server,) = parent_pid._links
    server_ref = greensup.monitor(server)

    greensup.exit(parent_pid, "shutdown")

    assert wait_down(server_ref).reason == "shutdown"
    assert record == [("terminate", "shutdown")]
    wait_down(ref)


def test_trapping_server_gets_exit_from_others_in_handle_info() -> None:
    record: list = []

    class Trapper(Counter):
        def init(self, record: list) -> None:
            greensup.trap_exit(True)
            self.record = record
            self.count = 0

    pid = Trapper.start(record=record)
    other = greensup.spawn(greensup.receive)
    greensup.call(pid, "get")

    greensup.exit(pid, "from a stranger")
    greensup.call(pid, "get")

    assert record == [("info", Exit(greensup.self_pid(), "from a stranger"))]
    greensup.stop(pid)
    greensup.exit(other, "kill")


def test_stale_timer_message_goes_to_handle_info_without_crashing() -> None:
    record: list = []
    pid = Counter.start(record=record)
    ref = greensup.timer.send_after(0, pid, "tick")

    wait_for(lambda: record)

    assert greensup.timer.cancel(ref) is None
    assert record == [("info", "tick")]
    assert pid.alive
    greensup.stop(pid)


def test_default_handle_info_logs_a_warning_and_keeps_running(caplog) -> None:
    class Quiet(GenServer):
        def handle_call(self, request, caller):
            return request

    pid = Quiet.start()

    greensup.send(pid, "unexpected")
    greensup.call(pid, "sync")

    assert "unexpected message: 'unexpected'" in caplog.text
    greensup.stop(pid)


def test_child_spec_starts_the_server_with_start_link() -> None:
    spec = Counter.child_spec(3)

    assert spec.id is Counter and spec.args == (3,)
    assert repr(spec) == "ChildSpec(id=Counter, restart='permanent')"


def test_server_repr_names_class_and_pid() -> None:
    pid = Counter.start()

    assert repr(_server(pid)) == f"<Counter {pid!r}>"
    greensup.stop(pid)


def test_gevent_timeout_escaping_a_callback_is_a_crash_like_any_other(
    error_reports: list,
) -> None:
    record: list = []

    class Impatient(Counter):
        def handle_call(self, request, caller):
            with gevent.Timeout(0.01):
                gevent.sleep(10)

    pid = Impatient.start(record=record)

    with pytest.raises(greensup.ServerExit) as info:
        greensup.call(pid, "wait")

    assert isinstance(info.value.reason, gevent.Timeout)
    assert record == [("terminate", info.value.reason)]
    assert len(error_reports) == 1


def test_call_and_stop_of_a_plain_process_raise_type_error_at_once() -> None:
    pid = greensup.spawn(greensup.receive)

    with pytest.raises(TypeError, match=r"^call to <0\.\d+\.0> failed: it is a plain "):
        greensup.call(pid, "hello")
    with pytest.raises(TypeError, match=r"not a GenServer$"):
        greensup.stop(pid)

    greensup.exit(pid, "kill")

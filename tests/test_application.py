"""Application: start, graceful stop order, and run() with signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import greensup
from greensup import Application, GenServer, Supervisor


class Recorder(GenServer):
    def init(self, ident, record) -> None:
        greensup.trap_exit(True)
        self.ident, self.record = ident, record

    def terminate(self, reason) -> None:
        self.record.append(("terminate", self.ident, reason))


class RecordingApp(Application):
    def __init__(self, record) -> None:
        self.record = record

    def start(self):
        children = [
            greensup.ChildSpec(n, Recorder.start_link, (n, self.record)) for n in "ab"
        ]
        return Supervisor.start_link(children)

    def prep_stop(self) -> None:
        self.record.append("prep_stop")

    def stop(self) -> None:
        self.record.append("stop")


def test_stop_application_runs_prep_stop_then_tree_in_reverse_then_stop() -> None:
    record: list = []
    app = greensup.start_application(RecordingApp(record))
    root = app.root

    greensup.stop_application(app)

    assert record == [
        "prep_stop",
        ("terminate", "b", "shutdown"),
        ("terminate", "a", "shutdown"),
        "stop",
    ]
    assert not root.alive and app.root is None


def test_start_application_returns_the_app_with_its_root_running() -> None:
    app = greensup.start_application(RecordingApp([]))

    assert app.root is not None and app.root.alive
    assert greensup.self_pid().alive
    greensup.stop_application(app)


def test_start_failing_raises_start_error() -> None:
    class Broken(Application):
        def start(self):
            raise RuntimeError("no tree today")

    with pytest.raises(greensup.StartError, match=r"RuntimeError: no tree today"):
        greensup.start_application(Broken())


def test_start_returning_something_else_than_a_pid_raises_start_error() -> None:
    class Sloppy(Application):
        def start(self):
            return "root"

    with pytest.raises(greensup.StartError, match=r"it must return the root super"):
        greensup.start_application(Sloppy())


def test_stop_application_of_a_stopped_app_does_nothing() -> None:
    app = greensup.start_application(RecordingApp([]))
    greensup.stop_application(app)

    greensup.stop_application(app)

    assert app.root is None


SCRIPT = textwrap.dedent(
    """
    import sys
    import greensup
    from greensup import Application, ChildSpec, GenServer, Supervisor

    out = open(sys.argv[1], "a", buffering=1)

    class Worker(GenServer):
        def init(self, ident):
            greensup.trap_exit(True)
            self.ident = ident
        def handle_call(self, request, caller):
            raise RuntimeError("crash")
        def terminate(self, reason):
            out.write(f"terminate {self.ident} {reason}\\n")

    class App(Application):
        def start(self):
            sup = Supervisor.start_link(
                [ChildSpec(n, Worker.start_link, (n,)) for n in "ab"],
                max_restarts=0, name="root")
            out.write("ready\\n")
            return sup
        def prep_stop(self):
            out.write("prep_stop\\n")
        def stop(self):
            out.write("stop\\n")

    if len(sys.argv) > 2:
        import gevent
        def crash_soon():
            gevent.sleep(0.05)
            a = Supervisor.which_children("root")[0].pid
            try:
                greensup.call(a, "boom")
            except greensup.ServerExit:
                pass
        gevent.spawn(crash_soon)
    sys.exit(greensup.run(App()))
    """
)


def run_script(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, Path]:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out.txt"
    out.touch()
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
    )
    return proc, out


def wait_for_line(out: Path, line: str, proc: subprocess.Popen) -> None:
    import time

    deadline = time.monotonic() + 30
    while line not in out.read_text().splitlines():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, f"no {line!r} in {out.read_text()!r}"
        time.sleep(0.02)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_gracefully_on_a_signal_and_returns_zero(tmp_path, signum) -> None:
    proc, out = run_script(tmp_path)
    wait_for_line(out, "ready", proc)

    os.kill(proc.pid, signum)
    code = proc.wait(30)

    assert code == 0, proc.stderr.read().decode()
    assert out.read_text().splitlines() == [
        "ready",
        "prep_stop",
        "terminate b shutdown",
        "terminate a shutdown",
        "stop",
    ]


def test_run_returns_non_zero_when_the_root_dies_of_restart_intensity(
    tmp_path,
) -> None:
    proc, out = run_script(tmp_path, "crash")

    code = proc.wait(30)

    assert code != 0
    lines = out.read_text().splitlines()
    assert lines[0] == "ready" and lines[-1] == "stop"
    assert "terminate b shutdown" in lines


class Stuck(GenServer):
    def init(self) -> None:
        greensup.trap_exit(True)

    def terminate(self, reason) -> None:
        import gevent

        gevent.sleep(60)


def test_a_tree_that_overruns_the_stop_timeout_is_killed_and_stop_still_runs(
    caplog,
) -> None:
    record: list = []

    class SlowApp(RecordingApp):
        def start(self):
            spec = greensup.ChildSpec("stuck", Stuck.start_link, shutdown="infinity")
            return Supervisor.start_link([spec])

    app = greensup.start_application(SlowApp(record))
    root = app.root
    ref = greensup.monitor(root)

    greensup.stop_application(app, timeout=0.1)

    assert greensup.receive(10, lambda m: m.ref == ref).reason == "killed"
    assert record == ["prep_stop", "stop"]
    assert "event=killed tree" in caplog.text


def test_a_hanging_prep_stop_cannot_hold_stop_application_for_ever(
    error_reports,
) -> None:
    class Hangs(RecordingApp):
        def prep_stop(self) -> None:
            import gevent

            gevent.sleep(60)

    app = greensup.start_application(Hangs([]))
    root = app.root

    greensup.stop_application(app, timeout=0.05)

    assert not root.alive and app.root is None
    assert any("stop callbacks overran" in r.getMessage() for r in error_reports)


def test_starting_a_running_application_again_raises_already_started() -> None:
    app = greensup.start_application(RecordingApp([]))

    with pytest.raises(greensup.AlreadyStarted, match=r"^application RecordingApp is"):
        greensup.start_application(app)

    greensup.stop_application(app)


def test_a_failed_start_names_the_application() -> None:
    class Broken(Application):
        def start(self):
            raise RuntimeError("no tree today")

    with pytest.raises(greensup.StartError) as info:
        greensup.start_application(Broken())

    assert str(info.value) == (
        "application Broken failed to start: RuntimeError: no tree today"
    )
    assert isinstance(info.value.__cause__, RuntimeError)

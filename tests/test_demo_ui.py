"""The demo's dashboard: frames as a person sees them, keys, and the terminal.

Frames are rendered from fixed snapshots and played into a terminal emulator
(pyte), then read back as the screen a person would see. The real program
runs in a pseudo-terminal whose emulator answers the terminal's queries:
keys change the screen, and however the program ends the terminal is given
back as it was (normal screen, cursor shown, echo and line editing on).
"""

from __future__ import annotations

import fcntl
import io
import os
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import blessed
import pyte
import pytest

from demo.app import DemoSnapshot
from demo.config import DemoConfig
from demo.retry import RetryTimer
from demo.snapshots import Counts, CrashInfo, QueueSnapshot, RetryView, WorkerView
from demo.stats import Activity, StatsSnapshot
from demo.ui import Dashboard
from demo.ui_render import View, render_frame
from demo.ui_text import Palette
from greensup import TreeNode

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000.0


# -- fixed snapshots ----------------------------------------------------------


class _Pid:
    """Stands for a process in a snapshot: only its repr is shown."""

    def __init__(self, number: int) -> None:
        self.number = number

    def __repr__(self) -> str:
        return f"<0.{self.number}.0>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Pid) and other.number == self.number

    def __hash__(self) -> int:
        return self.number


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


CRASH = CrashInfo(
    at=T0 - 5,
    job_id="j9",
    file_name="photo_009.jpg",
    reason="WorkerCrash: out of memory",
)


def _worker(
    slot: int,
    job: str = "",
    file_name: str = "",
    attempt: int = 1,
    elapsed: float = 0.0,
    progress: float = 0.0,
    crash: CrashInfo | None = None,
) -> WorkerView:
    pid = _Pid(4 + slot if slot <= 4 else 20 + slot)
    return WorkerView(
        slot=slot, pid=pid, job_id=file_name or None, job_type=job,
        file_name=file_name, attempt=attempt if job else 0, elapsed=elapsed,
        expected=1.5, progress=progress, retiring=False, last_crash=crash,
    )  # fmt: skip


def _workers(count: int = 4) -> tuple[WorkerView, ...]:
    views = [
        _worker(1, "resize", "photo_001.jpg", 1, 1.2, 0.8),
        _worker(2, "thumbnail", "photo_042.jpg", 2, 0.8, 0.6, CRASH),
        _worker(3),
        _worker(4, "compress", "photo_007.jpg", 1, 0.3, 0.2),
    ]
    for slot in range(5, count + 1):
        views.append(_worker(slot, "watermark", f"photo_{100 + slot}.jpg", 1, 0.5, 0.5))
    return tuple(views[:count])


def _event(kind: str, ago: float, file_name: str, **fields: object) -> Activity:
    return Activity(
        kind=kind, at=T0 - ago, mono=0.0, job_id=file_name, job_type="resize",
        file_name=file_name, **fields,  # type: ignore[arg-type]
    )  # fmt: skip


RECENT = (
    _event("queued", 9, "photo_041.jpg"),
    _event("queued", 9, "photo_042.jpg"),
    _event("dead_lettered", 4, "photo_033.jpg", attempt=4,
           detail="after 4 attempts (3/3 retries)"),
    _event("completed", 3, "photo_037.jpg", elapsed=0.4, detail="compressed"),
    _event("failed", 2, "photo_038.jpg", attempt=2, elapsed=0.5,
           detail="storage timed out reading photo_038.jpg; retry 2/3 in 2.00s"),
    _event("crashed", 2, "photo_009.jpg", elapsed=0.5,
           detail="crash: WorkerCrash: out of memory; retry 1/3 now"),
    _event("rejected", 1, "photo_050.jpg", detail="queue full (100 pending max)"),
    _event("completed", 0, "photo_039.jpg", elapsed=1.1, detail="resized"),
)  # fmt: skip


def _snapshot(
    workers: int = 4,
    recent: tuple[Activity, ...] = RECENT,
    draining: bool = False,
    deadline_in: float | None = None,
) -> DemoSnapshot:
    counts = Counts(
        submitted=70, rejected=2, completed=47, failed=5, crashed=1, retried=3,
        dead_lettered=3, pending=12, in_flight=3, retrying=2,
    )  # fmt: skip
    retries = (
        RetryView(job_id="r2", job_type="watermark", file_name="photo_012.jpg",
                  retry=1, due_in=0.4),
        RetryView(job_id="r1", job_type="resize", file_name="photo_038.jpg",
                  retry=2, due_in=1.4),
    )  # fmt: skip
    timers = (
        RetryTimer(job_id="r2", retry=1, delay=1.0, due_in=0.4),
        RetryTimer(job_id="r1", retry=2, delay=2.0, due_in=1.4),
    )
    queue = QueueSnapshot(
        counts=counts, workers=_workers(workers), retries=retries,
        last_crashes=((2, CRASH),), target_workers=4, max_workers=8,
        max_depth=100, draining=draining, drain_deadline_in=deadline_in,
    )  # fmt: skip
    stats = StatsSnapshot(
        throughput=12.4, avg_ms=850.0, completed=47, errors=6, rejected=2,
        recent=recent,
    )  # fmt: skip
    return DemoSnapshot(
        queue=queue, retry_timers=timers, stats=stats, dead_letters_total=12, tree=()
    )


def _tree(workers: int = 4) -> TreeNode:
    pool = tuple(TreeNode("worker", w.pid, "worker") for w in _workers(workers))
    children = (
        TreeNode("job_queue", _Pid(3), "worker"),
        TreeNode("worker_supervisor", _Pid(4), "supervisor", children=pool),
        TreeNode("retry_manager", _Pid(9), "worker", restarts=1),
        TreeNode("dead_letter_store", _Pid(10), "worker"),
        TreeNode("stats_collector", _Pid(11), "worker"),
    )
    return TreeNode("demo.root", _Pid(2), "supervisor", children=children)


def _view(**changes: object) -> View:
    fields: dict[str, object] = {
        "snapshot": _snapshot(),
        "tree": _tree(),
        "message": "+10 jobs: 10 queued",
        "drain_seconds": 5.0,
    }
    fields.update(changes)
    return View(**fields)  # type: ignore[arg-type]


# -- frames in an emulator ----------------------------------------------------


@pytest.fixture(autouse=True)
def _colour_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE"):
        monkeypatch.delenv(name, raising=False)


def _palette(styling: bool = True, colour: bool = True) -> Palette:
    term = blessed.Terminal(
        kind="xterm-256color",
        stream=io.StringIO(),
        force_styling=True if styling else None,
    )
    return Palette(term, colour)


def _play(lines: list[str], width: int, height: int) -> pyte.Screen:
    screen = pyte.Screen(width, height)
    stream = pyte.Stream(screen)
    for row, line in enumerate(lines):
        stream.feed(f"\x1b[{row + 1};1H{line}")
    return screen


def _show(view: View, width: int = 80, height: int = 24) -> pyte.Screen:
    return _play(render_frame(_palette(), view, width, height), width, height)


def _text(screen: pyte.Screen) -> str:
    return "\n".join(screen.display)


def _find(screen: pyte.Screen, text: str) -> tuple[int, int]:
    for row, line in enumerate(screen.display):
        column = line.find(text)
        if column >= 0:
            return row, column
    raise AssertionError(f"{text!r} is not on the screen:\n{_text(screen)}")


def test_frame_shows_the_layout_of_the_sketch_at_80x24() -> None:
    screen = _show(_view())

    text = _text(screen)
    assert "Ambitious Job Queue" in screen.display[1]
    assert "[q] quit" in screen.display[1]
    assert (
        "Queue: 12 pending │ 3 in flight │ 47 completed │ 3 dead letters │ "
        "2 rejected" in screen.display[3]
    )
    assert "#1  [████████░░] resize    photo_001.jpg    1.2s" in text
    assert "#3  [idle]" in text
    assert "Throughput: 12.4 jobs/s │ Avg: 850 ms │ Errors: 6" in text
    assert "Retries: 2 pending" in text and "Dead letters: 3" in text
    assert f"{_clock(T0)} ✓ photo_039.jpg resized (1.1s)" in text
    assert "[+] add 10 jobs  [=] add worker  [-] remove worker" in screen.display[23]


def test_frame_stays_inside_its_box_at_80x24_with_a_full_pool_and_long_lines() -> None:
    long = _event("failed", 0, "photo_777.jpg", attempt=2,
                  detail="x" * 300 + "; retry 2/3 in 2.00s")  # fmt: skip
    view = _view(snapshot=_snapshot(workers=8, recent=(long,) * 50), tree=_tree(8))

    screen = _show(view)

    for row, line in enumerate(screen.display[:23]):
        assert line[0] in "╔║╠╚" and line[79] in "╗║╣╝", f"row {row}: {line!r}"
    assert "#8" in _text(screen)
    assert f"{_clock(T0)} ✗ photo_777.jpg resize failed, retry 2/3" in _text(screen)


@pytest.mark.parametrize(
    "size", [(80, 24), (100, 30), (120, 40), (200, 60), (40, 10), (30, 8), (1, 1)]
)
def test_frame_has_exactly_the_size_of_the_terminal(size: tuple[int, int]) -> None:
    width, height = size
    palette = _palette()

    lines = render_frame(palette, _view(), width, height)

    assert len(lines) == height
    assert [palette.width(line) for line in lines[:-1]] == [width] * (height - 1)
    assert palette.width(lines[-1]) == width - 1


def test_footer_shortens_the_keys_to_show_the_whole_message_at_80_columns() -> None:
    message = "+10 jobs: 8 queued, 2 rejected (queue full)"

    footer = _show(_view(message=message)).display[23]

    assert footer.strip() == f"[+]10 jobs [=]+worker [-]-worker  {message}"


def test_frame_on_a_tiny_terminal_says_it_is_too_small() -> None:
    screen = _show(_view(), 30, 8)

    assert "terminal 30x8 too small" in _text(screen)


def test_activity_has_a_time_stamp_and_a_symbol_for_each_kind_of_event() -> None:
    text = _text(_show(_view(), 100, 40))

    assert f"{_clock(T0 - 3)} ✓ photo_037.jpg compressed (0.4s)" in text
    assert (
        f"{_clock(T0 - 2)} ✗ photo_038.jpg resize failed, retry 2/3 in 2.00s: "
        "storage timed out" in text
    )
    assert f"{_clock(T0 - 2)} ✘ photo_009.jpg crashed its worker, retry 1/3 now" in text
    assert f"{_clock(T0 - 4)} ☠ photo_033.jpg → dead letter after 4 attempts" in text
    assert f"{_clock(T0 - 1)} ⊘ photo_050.jpg rejected: queue full" in text
    assert "+ 2 jobs queued (photo_041.jpg … photo_042.jpg)" in text


def test_activity_sums_up_many_jobs_queued_or_resumed_at_once() -> None:
    recent = (
        Activity(kind="resumed", at=T0 - 1, mono=0.0,
                 detail="25 jobs from the last run"),
        _event("queued", 1, "photo_026.jpg"),
        Activity(kind="queued", at=T0, mono=0.0,
                 detail="30 jobs, photo_027.jpg to photo_056.jpg"),
    )  # fmt: skip

    text = _text(_show(_view(snapshot=_snapshot(recent=recent))))

    assert f"{_clock(T0)} + queued 30 jobs, photo_027.jpg to photo_056.jpg" in text
    assert f"{_clock(T0 - 1)} ↺ resumed 25 jobs from the last run" in text
    assert "photo_026.jpg" not in text  # one job arriving is not worth a line


def test_colour_marks_done_failed_crashed_and_dead_lettered_events() -> None:
    screen = _show(_view(), 100, 40)

    def cell(symbol: str) -> pyte.screens.Char:
        row, column = _find(screen, f" {symbol} photo_")
        return screen.buffer[row][column + 1]

    assert cell("✓").fg == "green"
    assert cell("✗").fg == "brown"  # pyte's name for yellow
    assert cell("✘").fg == "red" and cell("✘").bold
    assert cell("☠").fg == "magenta"


def test_frame_without_colour_is_plain_text() -> None:
    for palette in (_palette(styling=False), _palette(colour=False)):
        lines = render_frame(palette, _view(), 80, 24)

        assert not any("\x1b" in line for line in lines)
        assert "✘" in "".join(lines) and "[idle]" in "".join(lines)


def test_worker_rows_show_retries_and_the_last_crash_of_their_slot() -> None:
    text = _text(_show(_view(), 100, 30))

    row = next(line for line in text.splitlines() if "#2 " in line)
    assert "thumbnail photo_042.jpg" in row and "try 2" in row
    assert f"✘ {_clock(CRASH.at)} out of memory" in row


def test_narrow_frame_shows_each_childs_restart_count_and_retry_countdowns() -> None:
    text = _text(_show(_view()))

    assert "job_queue 0 · worker_supervisor (4 workers) 0 · retry_manager 1" in text
    assert "Retries: 2 pending (photo_012.jpg in 0.4s, …)" in text


def test_wide_frame_shows_the_supervision_tree_retries_and_crashes() -> None:
    text = _text(_show(_view(), 140, 40))

    assert "demo.root <0.2.0> one_for_one" in text
    assert "├─ retry_manager 1 restart <0.9.0>" in text
    assert "│  ├─ worker #2 <0.6.0>" in text
    assert "photo_012.jpg retry 1/3 in  0.4s" in text
    assert "photo_038.jpg retry 2/3 in  1.4s" in text
    assert f"✘ #2 {_clock(CRASH.at)} photo_009.jpg: out of memory" in text


def test_tree_marks_a_child_that_was_just_restarted() -> None:
    view = _view(fresh=frozenset({"retry_manager"}))

    narrow, wide = _text(_show(view)), _text(_show(view, 140, 40))

    assert "retry_manager 1 ↻ just restarted" in narrow
    assert "├─ retry_manager 1 restart ↻ just now <0.9.0>" in wide
    assert "job_queue 0 ·" in narrow


def test_drain_view_counts_down_the_deadline_of_the_jobs_in_flight() -> None:
    view = _view(snapshot=_snapshot(draining=True, deadline_in=2.4), phase="stopping")

    screen = _show(view)

    assert "STOPPING" in screen.display[1]
    assert (
        "⧗ draining 3 in-flight jobs: deadline in 2.4s [█████░░░░░]"
        in (screen.display[4])
    )
    assert "finishing in-flight jobs" in _text(screen)


def test_drain_view_says_when_nothing_is_left_in_flight() -> None:
    view = _view(snapshot=_snapshot(draining=True), phase="stopping")

    text = _text(_show(view, 120, 30))

    assert "■ drained: nothing in flight, stopping the tree" in text
    assert "14 waiting jobs kept for the next run" in text


# -- keys ---------------------------------------------------------------------


class _App:
    """Records what the dashboard asks of the application."""

    def __init__(self) -> None:
        self.config = DemoConfig(max_workers=8)
        self.calls: list[str] = []

    def submit(self, count: int) -> tuple[int, int]:
        self.calls.append(f"submit {count}")
        return count - 2, 2

    def add_worker(self) -> bool:
        self.calls.append("add_worker")
        return False

    def remove_worker(self) -> bool:
        self.calls.append("remove_worker")
        return True


def _dashboard(app: _App) -> Dashboard:
    term = blessed.Terminal(kind="xterm-256color", stream=io.StringIO())
    return Dashboard(term, app, runner=_Pid(1))  # type: ignore[arg-type]


def test_keys_add_jobs_add_a_worker_and_remove_one_and_others_do_nothing() -> None:
    app = _App()
    dashboard = _dashboard(app)
    said = []

    for key in "+=-x? \x1b":
        dashboard.press(key)
        said.append(dashboard._message)

    assert app.calls == ["submit 10", "add_worker", "remove_worker"]
    assert said[:3] == [
        "+10 jobs: 8 queued, 2 rejected (queue full)",
        "no worker added: 8 is the maximum",
        "a worker stops after its current job",
    ]
    assert set(said[3:]) == {said[2]}
    assert not dashboard.stopping


def test_q_asks_for_a_graceful_stop_and_later_keys_change_nothing() -> None:
    app = _App()
    dashboard = _dashboard(app)

    dashboard.press("q")
    dashboard.stopping = True  # as once the stop request went out
    dashboard.press("+")

    assert dashboard._stop_reason == "key"
    assert app.calls == []


# -- the real program in a pseudo-terminal ------------------------------------


class _Terminal(pyte.Screen):
    """An emulator that answers the program's queries, as a terminal does."""

    def __init__(self, width: int, height: int, master: int) -> None:
        super().__init__(width, height)
        self.master = master

    def write_process_input(self, data: str) -> None:
        os.write(self.master, data.encode())


class _Session:
    """The demo running in a pseudo-terminal, its output read all along."""

    def __init__(self, argv: list[str], width: int = 80, height: int = 24) -> None:
        self.master, self.slave = os.openpty()
        size = struct.pack("HHHH", height, width, 0, 0)
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, size)
        self.screen = _Terminal(width, height, self.master)
        self._stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self._lock = threading.Lock()

        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        env.update(TERM="xterm-256color", PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdin=self.slave, stdout=self.slave,
            stderr=self.slave, start_new_session=True, preexec_fn=_take_terminal,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the program and the test closed the terminal
                return
            if not data:
                return
            with self._lock:
                self.raw += data
                self._stream.feed(data)

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.screen.display)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if predicate(text):
                return text
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"the screen never matched:\n{self.text()}")

    def resize(self, width: int, height: int) -> None:
        with self._lock:
            self.screen.resize(height, width)
            size = struct.pack("HHHH", height, width, 0, 0)
            fcntl.ioctl(self.slave, termios.TIOCSWINSZ, size)

    def press(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait_exit(self, timeout: float = 30.0) -> int:
        status = self.process.wait(timeout)
        self._reader.join(timeout=1.0)  # the program's last output is in
        return status

    def output(self) -> str:
        with self._lock:
            return self.raw.decode(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.slave)
        os.close(self.master)


def _take_terminal() -> None:
    # Runs in the child, a new session leader: make the pseudo-terminal its
    # controlling terminal, so that Ctrl-C raises SIGINT as in a shell.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _demo(data_dir: Path, *options: str) -> list[str]:
    return [
        sys.executable, "demo/run.py", "--data-dir", str(data_dir), "--seed", "1",
        *options,
    ]  # fmt: skip


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Callable[..., _Session]]:
    sessions: list[_Session] = []

    def start(*options: str, argv: list[str] | None = None, **size: int) -> _Session:
        command = argv or _demo(tmp_path / "data", *options)
        sessions.append(_Session(command, **size))
        return sessions[-1]

    yield start
    for started in sessions:
        started.close()


def _assert_terminal_restored(demo: _Session) -> None:
    out = demo.output()
    assert out.rfind("\x1b[?1049h") < out.rfind("\x1b[?1049l"), "alternate screen"
    assert out.rfind("\x1b[?25l") < out.rfind("\x1b[?25h"), "cursor hidden"
    flags = termios.tcgetattr(demo.slave)[3]
    assert flags & termios.ECHO and flags & termios.ICANON, "echo or line editing"


def test_program_keys_change_the_screen_and_q_exits_0_with_the_terminal_restored(
    session: Callable[..., _Session],
) -> None:
    demo = session("--jobs", "0", "--workers", "2", "--speed", "20",
                   "--failure-rate", "0", "--crash-rate", "0")  # fmt: skip
    demo.wait_for(lambda text: "Workers 2/8" in text)

    # Idle workers beyond --workers soon retire on their own: the lasting
    # signs of a key are its message and the activity it caused.
    demo.press("=")
    demo.wait_for(lambda text: "worker added" in text and "⇡ worker #3" in text)
    demo.press("-")
    demo.wait_for(lambda text: "a worker stops after its current job" in text)
    demo.press("+")
    demo.wait_for(lambda text: "10 completed" in text and "+10 jobs" in text)
    demo.press("x")
    demo.press("q")

    assert demo.wait_exit() == 0
    _assert_terminal_restored(demo)
    assert "run.py: stopped: 10 completed" in demo.output()


def test_program_redraws_for_the_new_size_when_the_terminal_is_resized(
    session: Callable[..., _Session],
) -> None:
    demo = session("--jobs", "20", "--speed", "5", width=130, height=36)
    demo.wait_for(lambda text: "├─ job_queue" in text)

    demo.resize(80, 24)

    text = demo.wait_for(lambda text: "Supervision tree · restarts" in text)
    rows = text.splitlines()
    assert all(row[79] in "╗║╣╝" for row in rows[:23]), text
    demo.press("q")
    assert demo.wait_exit() == 0


def test_program_shows_the_drain_view_while_jobs_in_flight_finish(
    session: Callable[..., _Session],
) -> None:
    demo = session("--jobs", "3", "--workers", "3", "--speed", "0.5",
                   "--failure-rate", "0", "--crash-rate", "0")  # fmt: skip
    demo.wait_for(lambda text: "3 busy" in text)

    demo.press("q")

    text = demo.wait_for(lambda text: "draining" in text and "deadline in" in text)
    assert "STOPPING" in text
    assert demo.wait_exit() == 0
    _assert_terminal_restored(demo)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_program_stops_gracefully_on_ctrl_c_or_sigterm_with_the_terminal_restored(
    session: Callable[..., _Session], how: str
) -> None:
    demo = session("--jobs", "20", "--speed", "20")
    demo.wait_for(lambda text: "Recent activity" in text)

    if how == "ctrl-c":
        demo.press("\x03")
    else:
        demo.process.send_signal(signal.SIGTERM)

    assert demo.wait_exit() == 0
    _assert_terminal_restored(demo)
    assert "run.py: stopped:" in demo.output()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def test_program_gives_the_terminal_back_at_ctrl_z_and_takes_it_again_on_resume(
    session: Callable[..., _Session],
) -> None:
    demo = session("--jobs", "20", "--speed", "5")
    demo.wait_for(lambda text: "Recent activity" in text)

    demo.press("\x1a")
    deadline = time.monotonic() + 20.0
    while _state(demo.process.pid) != "T" and time.monotonic() < deadline:
        time.sleep(0.02)

    assert _state(demo.process.pid) == "T"
    _assert_terminal_restored(demo)
    entered = demo.output().count("\x1b[?1049h")
    demo.process.send_signal(signal.SIGCONT)
    demo.wait_for(lambda _: demo.output().count("\x1b[?1049h") > entered)
    demo.press("q")
    assert demo.wait_exit() == 0
    _assert_terminal_restored(demo)


def _driver(tmp_path: Path, body: str, *options: str) -> list[str]:
    code = textwrap.dedent(body) + textwrap.dedent(
        f"""
        import demo.run
        sys.exit(demo.run.main({[*_demo(tmp_path / "data", *options)[2:]]!r}))
        """
    )
    return [sys.executable, "-c", "import sys\n" + code]


def test_program_restores_the_terminal_after_an_exception_in_the_dashboard(
    session: Callable[..., _Session], tmp_path: Path
) -> None:
    crash_on_fifth_frame = """
        import demo.ui
        real, frames = demo.ui.render_frame, []

        def render_frame(*args):
            frames.append(1)
            if len(frames) == 5:
                raise RuntimeError("the renderer broke")
            return real(*args)

        demo.ui.render_frame = render_frame
    """
    demo = session(argv=_driver(tmp_path, crash_on_fifth_frame, "--speed", "20"))

    assert demo.wait_exit() == 1
    _assert_terminal_restored(demo)
    assert "RuntimeError: the renderer broke" in demo.output()


def test_program_restores_the_terminal_and_exits_1_when_the_tree_dies(
    session: Callable[..., _Session], tmp_path: Path
) -> None:
    kill_the_root = """
        import gevent, greensup

        def kill():
            while greensup.whereis("demo.root") is None:
                gevent.sleep(0.05)
            gevent.sleep(0.3)
            greensup.exit(greensup.whereis("demo.root"), "kill")

        gevent.spawn(kill)
    """
    demo = session(argv=_driver(tmp_path, kill_the_root, "--speed", "20"))

    assert demo.wait_exit() == 1
    _assert_terminal_restored(demo)
    assert "the supervision tree died" in demo.output()


def test_program_keeps_the_hub_running_while_the_dashboard_waits_for_keys(
    session: Callable[..., _Session], tmp_path: Path
) -> None:
    """A 10 ms timer keeps ticking through one-second waits for a key."""
    gaps = tmp_path / "gaps.txt"
    measure = f"""
        import functools, time
        import gevent, greensup
        import demo.ui
        from greensup import timer

        ticks = []

        def ticker():
            timer.send_interval(0.01, greensup.self_pid(), "tick")
            while True:
                greensup.receive()
                ticks.append(time.monotonic())

        real_run, real_render, first = demo.ui.run_dashboard, demo.ui.render_frame, []

        def render_frame(*args):
            if not first:
                first.append(time.monotonic())
                greensup.spawn(ticker)
            return real_render(*args)

        def run_dashboard(*args, **kwargs):
            status = real_run(*args, frame_seconds=1.0, **kwargs)
            gaps = [b - a for a, b in zip(ticks, ticks[1:])]
            with open({str(gaps)!r}, "w") as file:
                file.write(f"{{len(gaps)}} {{max(gaps)}}")
            return status

        demo.ui.render_frame = render_frame
        demo.ui.run_dashboard = run_dashboard
    """
    demo = session(
        argv=_driver(tmp_path, measure, "--speed", "20", "--duration", "2.5")
    )

    assert demo.wait_exit() == 0
    count, largest = gaps.read_text().split()
    assert int(count) > 100
    assert float(largest) < 0.5, f"the hub stopped for {float(largest):.3f}s"

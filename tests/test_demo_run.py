"""The demo as a real OS process: ``python demo/run.py`` from the repository root.

Covers what only a separate OS process can show: the script entry point, exit
statuses, SIGTERM and SIGINT, and resuming from the data directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from demo.job import JobFactory
from demo.state import LocalState
from tests.demo_checks import assert_nothing_lost

ROOT = Path(__file__).resolve().parent.parent
RUN = [sys.executable, "demo/run.py", "--headless"]
FIELDS = {
    "submitted", "rejected", "completed", "failed", "crashed", "retried",
    "dead_lettered", "pending", "in_flight", "retrying", "resumed",
    "dead_letters_total", "throughput", "avg_ms", "max_hub_stall_ms",
}  # fmt: skip


def _run(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUN, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def _stop_with(signum: int, data_dir: Path, out: Path) -> dict:
    args = ["--data-dir", str(data_dir), "--summary", str(out)]
    args += ["--workers", "2", "--jobs", "30", "--speed", "4", "--seed", "5"]
    process = subprocess.Popen(
        [*RUN, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:  # the first finished job: work is under way
        if " completed " in line:
            break

    process.send_signal(signum)
    rest, err = process.communicate(timeout=30)

    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "drained" in rest
    return json.loads(out.read_text())


def test_until_idle_prints_activity_and_writes_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "out.json"

    result = _run(
        "--until-idle", "--speed", "50", "--jobs", "15", "--seed", "2",
        "--data-dir", str(tmp_path / "state"), "--summary", str(out),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    summary = json.loads(out.read_text())
    assert set(summary) == FIELDS
    assert summary["submitted"] == 15 and summary["in_flight"] == 0
    assert_nothing_lost(summary)
    lines = result.stdout.splitlines()
    assert sum(" completed " in line for line in lines) == summary["completed"]
    assert all(line[:2].isdigit() and line[8] == "." for line in lines)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_gracefully_and_the_next_run_resumes(
    tmp_path: Path, signum: int
) -> None:
    data_dir = tmp_path / "state"
    first = _stop_with(signum, data_dir, tmp_path / "first.json")
    second_out = tmp_path / "second.json"

    result = _run(
        "--until-idle", "--jobs", "0", "--speed", "50", "--failure-rate", "0",
        "--crash-rate", "0", "--data-dir", str(data_dir), "--summary", str(second_out),
    )  # fmt: skip

    second = json.loads(second_out.read_text())
    assert result.returncode == 0, result.stderr
    assert first["in_flight"] == 0 and first["pending"] + first["retrying"] > 0
    assert_nothing_lost(first)
    assert second["resumed"] == first["pending"] + first["retrying"]
    assert second["completed"] == second["resumed"]


def test_a_corrupt_state_file_exits_2_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "jobs.sqlite3").write_text("definitely not a database\n")

    result = _run("--until-idle", "--data-dir", str(tmp_path))

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("run.py: error: corrupt state file ")
    assert result.stderr.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["jobs.sqlite3"]


def test_a_negative_count_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _run("--jobs", "-3", "--data-dir", str(tmp_path / "state"))

    assert result.returncode == 2
    assert result.stderr == (
        "run.py: error: argument --jobs: invalid value '-3': must be at least 0\n"
    )
    assert not (tmp_path / "state").exists()


def test_a_second_run_on_the_same_data_dir_exits_2(tmp_path: Path) -> None:
    first = subprocess.Popen(
        [*RUN, "--data-dir", str(tmp_path), "--jobs", "50", "--speed", "4"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert first.stdout is not None
    first.stdout.readline()  # started: the lock is held

    second = _run("--until-idle", "--data-dir", str(tmp_path))

    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=30)
    assert second.returncode == 2
    assert second.stderr == (
        f"run.py: error: argument --data-dir: {tmp_path}: "
        "in use by another run of the demo\n"
    )
    assert first.returncode == 0


def test_a_closed_output_pipe_does_not_stop_the_run(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    args = ["--until-idle", "--jobs", "40", "--speed", "20", "--summary", str(out)]
    process = subprocess.Popen(
        [*RUN, *args, "--data-dir", str(tmp_path / "state")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()

    process.stdout.close()  # as `run.py | head -1` does

    assert process.wait(timeout=30) == 0
    assert process.stderr.read() == b""
    assert_nothing_lost(json.loads(out.read_text()))


def test_list_dead_letters_into_a_pipe_closed_early_exits_0_quietly(
    tmp_path: Path,
) -> None:
    factory = JobFactory(2)
    state = LocalState(str(tmp_path))
    for _ in range(3000):
        state.add_dead_letter(factory.make().after_failure("broke"))
    state.close()
    lister = subprocess.Popen(
        [*RUN, "--list-dead-letters", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    first = lister.stdout.readline()
    lister.stdout.close()  # what ``| head -1`` does
    status = lister.wait(60)

    assert json.loads(first)["errors"] == ["broke"]
    assert status == 0
    assert lister.stderr.read() == b""

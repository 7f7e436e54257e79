"""The demo in image mode: real Pillow work, permanent failures, reruns, the pool.

Each test makes its own small images (and broken files) in a temporary folder
and runs the demo on them until it is idle.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import gevent
import pytest
from PIL import Image

import greensup
from demo import images
from demo.app import JobQueueApp, Summary
from demo.config import DemoConfig
from demo.image_pool import ImagePool, ImageWork
from demo.job import MAX_ATTEMPTS, JobFactory, WorkerCrash
from demo.run import main, parse_args, run_app
from demo.state import LocalState
from demo.stats import HubProbe
from tests.conftest import wait_for
from tests.demo_checks import assert_nothing_lost
from tests.image_files import make_image_folder, make_photo

ROOT = Path(__file__).resolve().parent.parent
GOOD = ("logo.png", "photo.jpg")
BROKEN = {
    "empty.jpg": r"^empty\.jpg is empty \(0 bytes\)$",
    "notes.jpg": r"^notes\.jpg is not an image Pillow can read$",
    "truncated.jpg": r"^truncated\.jpg is truncated or corrupt: .+$",
}


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    return make_image_folder(tmp_path, photo=(1200, 900), logo=(200, 100))


def _config(folders: tuple[Path, Path], **changes: object) -> DemoConfig:
    source, out = folders
    config = DemoConfig(
        workers=2,
        max_workers=3,
        jobs=0,
        failure_rate=0.0,
        crash_rate=0.0,
        speed=100.0,
        seed=3,
        images_dir=str(source),
        out_dir=str(out),
        image_pool="thread",
    )
    return replace(config, **changes)


def _run(config: DemoConfig, state: LocalState | None = None) -> Summary:
    app = JobQueueApp(config, state=state)

    assert run_app(app, until_idle=True, signals=False) == 0

    assert app.summary is not None
    return app.summary


@pytest.fixture
def state() -> Iterator[LocalState]:
    state = LocalState(None)
    yield state
    state.close()


# -- the work -----------------------------------------------------------------


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_image_mode_writes_four_results_of_the_right_size_and_format_per_image(
    folders, pool: str
) -> None:
    _, out = folders

    _run(_config(folders, image_pool=pool))

    expected = {
        "photo.resize.jpg": ((1024, 768), "JPEG"),
        "photo.thumbnail.jpg": ((256, 192), "JPEG"),
        "photo.watermark.jpg": ((1200, 900), "JPEG"),
        "photo.compress.jpg": ((1200, 900), "JPEG"),
        "logo.resize.png": ((200, 100), "PNG"),
        "logo.thumbnail.png": ((200, 100), "PNG"),
        "logo.watermark.png": ((200, 100), "PNG"),
        "logo.compress.jpg": ((200, 100), "JPEG"),
    }
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for name, (size, image_format) in expected.items():
        with Image.open(out / name) as result:
            assert (result.size, result.format) == (size, image_format), name


def test_broken_files_go_to_the_dead_letters_at_once_with_their_reason(
    folders, state
) -> None:
    summary = _run(_config(folders), state)

    letters = state.dead_letters()
    assert sorted((job.file_name, job.type) for job in letters) == sorted(
        (name, job_type) for name in BROKEN for job_type in images.JOB_TYPES
    )
    for job in letters:
        assert job.attempts == 1
        (error,) = job.errors
        assert re.match(BROKEN[job.file_name], error), error
    assert (summary.retried, summary.dead_lettered) == (0, 12)


def test_summary_counts_every_job_of_the_folder(folders) -> None:
    summary = _run(_config(folders))

    assert_nothing_lost(summary)
    assert (summary.submitted, summary.completed, summary.failed) == (20, 8, 12)
    assert (summary.rejected, summary.crashed, summary.resumed) == (0, 0, 0)
    assert summary.pending == summary.in_flight == summary.retrying == 0
    assert summary.max_hub_stall_ms >= 0


def test_a_folder_larger_than_max_depth_is_worked_through_without_rejections(
    folders,
) -> None:
    summary = _run(_config(folders, max_depth=3))

    assert (summary.submitted, summary.rejected, summary.completed) == (20, 0, 8)


def test_a_rerun_skips_the_work_already_done(folders) -> None:
    _, out = folders
    _run(_config(folders))
    written = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}

    summary = _run(_config(folders))

    assert (summary.submitted, summary.completed) == (12, 0)  # the broken files
    assert {path.name: path.stat().st_mtime_ns for path in out.iterdir()} == written


def test_a_resumed_job_whose_output_exists_just_completes(folders, state) -> None:
    source, out = folders
    images.process("resize", source / "photo.jpg", out)
    state.save(JobFactory(1).make_for("resize", "photo.jpg"), "pending")
    state.flush()

    summary = _run(_config(folders), state)

    assert (summary.resumed, summary.submitted, summary.completed) == (1, 19, 8)
    assert_nothing_lost(summary)


def test_a_resumed_job_whose_file_is_gone_is_a_permanent_failure(
    folders, state
) -> None:
    state.save(JobFactory(1).make_for("resize", "gone.jpg"), "pending")
    state.flush()

    _run(_config(folders), state)

    (letter,) = [job for job in state.dead_letters() if job.file_name == "gone.jpg"]
    assert letter.attempts == 1
    assert letter.errors == (f"gone.jpg is not in {folders[0]}",)


# -- simulated faults on top ----------------------------------------------------


def test_simulated_failures_still_retry_real_jobs_with_backoff(folders, state) -> None:
    source, _ = folders
    for name in BROKEN:
        (source / name).unlink()
    config = _config(folders, failure_rate=1.0, speed=200.0)

    summary = _run(config, state)

    assert (summary.dead_lettered, summary.retried) == (8, 24)
    assert {job.attempts for job in state.dead_letters()} == {MAX_ATTEMPTS}


def test_simulated_crashes_are_retried_and_the_jobs_complete(
    folders, error_reports
) -> None:
    source, out = folders
    for name in BROKEN:
        (source / name).unlink()
    config = _config(folders, crash_rate=0.5, image_pool="process", seed=7)

    summary = _run(config)

    assert_nothing_lost(summary)
    assert summary.crashed > 0
    assert summary.completed + summary.dead_lettered == 8
    assert len(list(out.iterdir())) == 8


# -- the pool -----------------------------------------------------------------


def test_a_worker_killed_mid_job_leaves_the_pool_working(
    folders, error_reports
) -> None:
    source, _ = folders
    make_photo(source / "big.jpg", (2000, 1500))
    app = JobQueueApp(_config(folders, image_pool="process"))
    greensup.start_application(app)
    try:
        busy: list[greensup.Pid] = []

        def a_worker_is_busy() -> bool:
            workers = app.snapshot().queue.workers
            busy[:] = [w.pid for w in workers if w.job_id is not None]
            return bool(busy)

        wait_for(a_worker_is_busy)
        greensup.exit(busy[0], "kill")
        me = greensup.self_pid()
        app.notify_idle(me)
        greensup.receive(timeout=60, match=lambda m: m[:1] == ("queue_idle",))
    finally:
        greensup.stop_application(app)

    summary = app.summary
    assert summary is not None
    assert summary.crashed >= 1
    assert summary.completed == 12  # photo, logo and big, four jobs each


def test_a_pool_whose_os_process_died_is_replaced() -> None:
    pool = ImagePool("process", 1)
    work = ImageWork(Path("."), Path("."), pool)
    me = greensup.self_pid()
    job = JobFactory(1).make_for("resize", "x.jpg")
    try:
        generation = pool.submit(me, ("done",), _exit_now)
        (_, future) = greensup.receive(timeout=30)

        with pytest.raises(WorkerCrash, match=r"^the image pool lost an OS process"):
            work.outcome(job, generation, future)
        pool.submit(me, ("again",), abs, -4)
        (_, future) = greensup.receive(timeout=30)
    finally:
        pool.close()

    assert future.result() == 4
    assert pool.renewals == 1


def _exit_now() -> None:
    os._exit(3)


def test_the_pool_is_shut_down_when_the_app_stops(folders) -> None:
    app = JobQueueApp(_config(folders, image_pool="process"))
    greensup.start_application(app)
    work = app.images
    assert work is not None

    greensup.stop_application(app)

    assert app.images is None
    with pytest.raises(RuntimeError):
        work.pool.submit(greensup.self_pid(), ("x",), abs, 1)


# -- the hub stall --------------------------------------------------------------


def test_the_hub_probe_sees_a_greenlet_that_keeps_the_hub_from_running() -> None:
    probe = HubProbe(0.01)
    try:
        gevent.sleep(0.03)
        looks = probe.looks
        until = time.perf_counter() + 0.2
        while time.perf_counter() < until:  # work that never yields to the hub
            pass
        wait_for(lambda: probe.looks > looks)
    finally:
        probe.stop()

    assert probe.max_stall >= 0.15


# -- the command line -----------------------------------------------------------


def test_fault_rates_are_zero_in_image_mode_unless_given(folders) -> None:
    source, out = map(str, folders)

    _, quiet = parse_args(["--images", source, "--out", out])
    _, noisy = parse_args(["--images", source, "--out", out, "--failure-rate", "0.3"])

    assert (quiet.failure_rate, quiet.crash_rate, quiet.jobs) == (0.0, 0.0, 0)
    assert (noisy.failure_rate, noisy.crash_rate) == (0.3, 0.0)
    assert quiet.image_mode and quiet.out_dir == out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--images", "{tmp}/missing", "--out", "{tmp}/o"],
            r"--images: .*missing: not",
        ),
        (["--images", "{tmp}/in"], r"--images: needs --out DIR as well"),
        (["--out", "{tmp}/o"], r"--out: needs --images DIR as well"),
        (["--images", "{tmp}/in", "--out", "{tmp}/file/o"], r"--out: .*file: not a"),
        (["--images", "{tmp}/in", "--out", "{tmp}/in"], r"--out: .*same directory"),
        (["--images", "{tmp}/file", "--out", "{tmp}/o"], r"--images: .*file: not a"),
    ],
)
def test_bad_image_folders_exit_2_with_one_line_and_touch_nothing(
    tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "file").write_text("x")
    argv = [arg.format(tmp=tmp_path) for arg in args]
    argv += ["--data-dir", str(tmp_path / "state"), "--headless"]

    status = main(argv)

    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("run.py: error: argument ")
    assert re.search(message, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "in"]


def test_the_script_runs_image_mode_headless_until_idle(folders, tmp_path) -> None:
    source, out = folders
    summary_path = tmp_path / "summary.json"
    command = [sys.executable, "demo/run.py", "--headless", "--until-idle"]
    command += ["--images", str(source), "--out", str(out / "new")]
    command += ["--data-dir", str(tmp_path / "state"), "--summary", str(summary_path)]

    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    summary = json.loads(summary_path.read_text())
    assert (summary["completed"], summary["dead_lettered"]) == (8, 12)
    assert summary["retried"] == 0 and summary["max_hub_stall_ms"] >= 0
    assert len(list((out / "new").iterdir())) == 8
    lines = result.stdout.splitlines()
    assert "20 image jobs to do, 0 done already" in lines[0]
    assert sum("permanent, not retried" in line for line in lines) == 12
    assert "max hub stall" in lines[-1]


def test_ctrl_c_to_the_process_group_stops_gracefully_with_the_pool_alive(
    folders, tmp_path
) -> None:
    source, out = folders
    for name in BROKEN:
        (source / name).unlink()
    for number in range(6):
        make_photo(source / f"more_{number}.jpg", (1600, 1200))
    summary_path = tmp_path / "summary.json"
    command = [sys.executable, "demo/run.py", "--headless", "--workers", "2"]
    command += ["--max-workers", "2", "--images", str(source), "--out", str(out)]
    command += ["--data-dir", str(tmp_path / "state"), "--summary", str(summary_path)]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:  # the first finished job: the pool is at work
        if " completed " in line:
            break

    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
    rest, err = process.communicate(timeout=60)

    assert process.returncode == 0, err
    assert "drained" in rest and " crashed " not in rest
    summary = json.loads(summary_path.read_text())
    assert summary["crashed"] == summary["failed"] == 0
    assert summary["in_flight"] == 0


# -- the benchmark --------------------------------------------------------------


def test_the_image_benchmark_prints_images_per_second_and_ratios(
    tmp_path: Path, capsys
) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_images

    argv = ["--quick", "--images", "2", "--workers", "1", "--pools", "thread"]
    status = bench_images.main([*argv, "--cache", str(tmp_path / "cache")])

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[0] == f"images: 2 of 400x300, {bench_images.cores()} cores"
    assert re.match(
        r"^round 1, load [\d.]+: plain loop [\d.]+ images/s, CPU/run time [\d.]+$",
        lines[1],
    )
    assert re.match(
        r"^  pipeline, thread pool of \d+, 1 workers: [\d.]+ images/s, "
        r"[\d.]+x the loop, max hub stall \d+ ms, "
        r"CPU: own [\d.]+s, pool [\d.]+s, in [\d.]+s$",
        lines[2],
    )

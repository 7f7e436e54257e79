"""The job-queue demo's engine, run in-process: the supervision tree at work.

Runs use a high ``speed`` and few jobs, so each takes well under a second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import greensup
from demo.app import JobQueueApp, Summary
from demo.config import DemoConfig
from demo.job import MAX_ATTEMPTS, MAX_RETRIES, AttemptPlan, Job, Simulation
from demo.queue import Counts
from demo.run import run_app
from demo.state import LocalState
from demo.stats import Activity
from tests.conftest import wait_for
from tests.demo_checks import assert_nothing_lost

FAST = DemoConfig(workers=3, max_workers=6, jobs=20, speed=200.0, seed=1)


class Recorder:
    """Collects the activity of a run, in order."""

    def __init__(self) -> None:
        self.events: list[Activity] = []

    def __call__(self, activity: Activity) -> None:
        self.events.append(activity)

    def kinds(self, kind: str) -> list[Activity]:
        return [event for event in self.events if event.kind == kind]


def _run(config: DemoConfig, recorder: Recorder | None = None) -> Summary:
    app = JobQueueApp(config, on_activity=recorder)
    status = run_app(app, until_idle=True, signals=False)
    assert status == 0
    assert app.summary is not None
    return app.summary


@pytest.fixture
def app_started() -> Iterator[list[JobQueueApp]]:
    """Stops, at the end of the test, the apps the test started."""
    apps: list[JobQueueApp] = []
    yield apps
    for app in apps:
        if app.root is not None and app.root.alive:
            greensup.stop_application(app)


def _start(apps: list[JobQueueApp], config: DemoConfig, **kwargs) -> JobQueueApp:
    app = JobQueueApp(config, **kwargs)
    greensup.start_application(app)
    apps.append(app)
    return app


def _busy_worker(app: JobQueueApp) -> tuple[greensup.Pid, str]:
    found: list[tuple[greensup.Pid, str]] = []

    def busy() -> bool:
        workers = app.snapshot().queue.workers
        found[:] = [(w.pid, w.job_id) for w in workers if w.job_id is not None]
        return bool(found)

    wait_for(busy)
    return found[0]


# -- nothing is lost ---------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("failure", "crash"), [(0.2, 0.05), (0.5, 0.3), (0.0, 0.0)])
def test_nothing_is_lost_for_seeds_and_fault_rates(
    seed: int, failure: float, crash: float, error_reports
) -> None:
    config = replace(FAST, seed=seed, failure_rate=failure, crash_rate=crash)

    summary = _run(config)

    assert_nothing_lost(summary)
    assert summary.in_flight == summary.pending == summary.retrying == 0
    assert summary.completed + summary.dead_lettered == 20


def test_all_failures_end_as_dead_letters_after_three_retries_each() -> None:
    config = replace(FAST, jobs=10, failure_rate=1.0, crash_rate=0.0)
    state = LocalState(None)
    app = JobQueueApp(config, state=state)

    assert run_app(app, until_idle=True, signals=False) == 0

    summary = app.summary
    assert_nothing_lost(summary)
    assert (summary.dead_lettered, summary.completed) == (10, 0)
    assert (summary.failed, summary.retried) == (40, 30)
    assert {len(job.errors) for job in state.dead_letters()} == {MAX_ATTEMPTS}
    assert {job.attempts for job in state.dead_letters()} == {MAX_ATTEMPTS}
    state.close()


def test_all_crashes_end_as_dead_letters_with_the_crash_reason(error_reports) -> None:
    config = replace(FAST, jobs=5, failure_rate=0.0, crash_rate=1.0)
    state = LocalState(None)
    app = JobQueueApp(config, state=state)

    assert run_app(app, until_idle=True, signals=False) == 0

    summary = app.summary
    assert_nothing_lost(summary)
    assert (summary.crashed, summary.retried, summary.dead_lettered) == (20, 15, 5)
    errors = {error for job in state.dead_letters() for error in job.errors}
    assert all(error.startswith("crash: WorkerCrash: ") for error in errors)
    assert any("WorkerCrash" in record.getMessage() for record in error_reports)
    state.close()


def test_a_queue_bound_of_one_rejects_and_counts_the_rest() -> None:
    recorder = Recorder()
    config = replace(FAST, jobs=10, max_depth=1, workers=1, max_workers=1)

    summary = _run(config, recorder)

    assert_nothing_lost(summary)
    assert summary.rejected >= 8
    assert len(recorder.kinds("rejected")) == summary.rejected
    assert "queue full" in recorder.kinds("rejected")[0].detail


# -- crashes and retries -----------------------------------------------------


def test_a_killed_worker_has_its_job_back_in_the_queue_within_100_ms(
    app_started, error_reports
) -> None:
    recorder = Recorder()
    config = replace(FAST, workers=1, jobs=1, speed=2.0, failure_rate=0, crash_rate=0)
    app = _start(app_started, config, on_activity=recorder)
    pid, job_id = _busy_worker(app)

    killed_at = time.monotonic()
    greensup.exit(pid, "kill")
    wait_for(lambda: recorder.kinds("requeued"))

    requeued = recorder.kinds("requeued")[0]
    assert requeued.job_id == job_id
    assert requeued.mono - killed_at < 0.1
    assert app.counts().crashed == 1


def test_a_job_that_keeps_losing_its_worker_is_dead_lettered(
    app_started, error_reports
) -> None:
    state = LocalState(None)
    config = replace(FAST, workers=1, jobs=1, speed=2.0, failure_rate=0, crash_rate=0)
    app = _start(app_started, config, state=state)

    for _ in range(MAX_ATTEMPTS):
        pid, job_id = _busy_worker(app)
        greensup.exit(pid, "kill")
        wait_for(
            lambda pid=pid: pid not in {w.pid for w in app.snapshot().queue.workers}
        )

    wait_for(lambda: app.counts().dead_lettered == 1)
    (job,) = state.dead_letters()
    assert job.id == job_id and job.attempts == MAX_ATTEMPTS
    assert job.errors == ("crash: killed",) * MAX_ATTEMPTS
    assert_nothing_lost(app.counts())


def test_retries_fire_after_1_2_and_4_seconds_scaled_by_speed() -> None:
    recorder = Recorder()
    config = replace(FAST, jobs=1, speed=10.0, failure_rate=1.0, crash_rate=0.0)

    _run(config, recorder)

    failures = recorder.kinds("failed")
    requeues = recorder.kinds("requeued")
    assert len(failures) == MAX_ATTEMPTS and len(requeues) == MAX_RETRIES
    waits = [r.mono - f.mono for f, r in zip(failures, requeues, strict=False)]
    for waited, expected in zip(waits, (0.1, 0.2, 0.4), strict=True):
        assert expected * 0.9 <= waited <= expected + 0.15


def test_a_restarted_retry_manager_keeps_the_waiting_retries(
    app_started, error_reports
) -> None:
    config = replace(FAST, jobs=3, speed=4.0, failure_rate=1.0, crash_rate=0.0)
    app = _start(app_started, config)
    wait_for(lambda: app.counts().retrying == 3)
    manager = greensup.whereis(config.names.retry)

    greensup.exit(manager, "kill")
    wait_for(lambda: greensup.whereis(config.names.retry) not in (None, manager))

    wait_for(lambda: app.counts().retried > 3)
    tree = {child.id: child.restarts for child in app.tree()}
    assert tree["retry_manager"] == 1 and tree["job_queue"] == 0


# -- durable state -----------------------------------------------------------


def test_dead_letters_keep_every_field_and_survive_a_restart(tmp_path: Path) -> None:
    config = replace(
        FAST, jobs=3, failure_rate=1.0, crash_rate=0, data_dir=str(tmp_path)
    )
    _run(config)

    summary = _run(replace(config, jobs=0))

    state = LocalState(str(tmp_path))
    dead = state.dead_letters()
    state.close()
    assert summary.dead_letters_total == 3 and summary.dead_lettered == 0
    assert len({job.id for job in dead}) == 3
    for job in dead:
        assert job.type and job.file_name.endswith(".jpg")
        assert job.attempts == MAX_ATTEMPTS and len(job.errors) == MAX_ATTEMPTS


def test_graceful_stop_saves_unfinished_jobs_and_the_next_start_resumes_them(
    tmp_path: Path,
) -> None:
    first_run, second_run = Recorder(), Recorder()
    config = replace(
        FAST,
        workers=1,
        max_workers=1,
        jobs=8,
        speed=20.0,
        data_dir=str(tmp_path),
        failure_rate=0.0,
        crash_rate=0.0,
    )
    app = JobQueueApp(config, on_activity=first_run)
    greensup.start_application(app)
    _, draining_job = _busy_worker(app)
    greensup.stop_application(app)
    first = app.summary

    second = _run(replace(config, jobs=0), second_run)

    done_first = {e.job_id for e in first_run.kinds("completed")}
    done_second = {e.job_id for e in second_run.kinds("completed")}
    assert draining_job in done_first and first.in_flight == 0
    assert first.pending + first.retrying > 0
    assert_nothing_lost(first)
    assert second.resumed == first.pending + first.retrying
    assert second.completed == second.resumed
    assert len(second_run.kinds("resumed")) == second.resumed
    assert not done_first & done_second


def test_a_drain_deadline_returns_unfinished_jobs_to_pending(tmp_path: Path) -> None:
    config = replace(
        FAST,
        workers=2,
        jobs=2,
        speed=1.0,
        drain_timeout=0.05,
        failure_rate=0.0,
        crash_rate=0.0,
        data_dir=str(tmp_path),
    )
    app = JobQueueApp(config)
    greensup.start_application(app)
    _busy_worker(app)

    greensup.stop_application(app)

    assert app.summary.in_flight == 0 and app.summary.pending == 2
    assert_nothing_lost(app.summary)


# -- backpressure and the pool -----------------------------------------------


def test_backpressure_rejects_past_max_depth_while_the_producer_goes_on(
    app_started,
) -> None:
    recorder = Recorder()
    config = replace(
        FAST, workers=1, max_workers=1, jobs=0, rate=200.0, max_depth=3, speed=1.0
    )
    app = _start(app_started, config, on_activity=recorder)
    wait_for(lambda: app.counts().rejected >= 5)
    submitted = app.counts().submitted

    wait_for(lambda: app.counts().submitted > submitted + 5)

    assert app.snapshot().stats.rejected >= 5
    assert recorder.kinds("rejected")
    assert_nothing_lost(app.counts())


def test_workers_can_be_added_up_to_max_and_removed_down_to_one(app_started) -> None:
    config = replace(FAST, workers=2, max_workers=3, jobs=0, autoscale=False)
    app = _start(app_started, config)
    wait_for(lambda: len(app.snapshot().queue.workers) == 2)

    added = [app.add_worker(), app.add_worker()]
    removed = [app.remove_worker() for _ in range(3)]

    assert added == [True, False] and removed == [True, True, False]
    wait_for(lambda: len(app.snapshot().queue.workers) == 1)


def test_removing_a_busy_worker_lets_it_finish_its_job(app_started) -> None:
    recorder = Recorder()
    config = replace(
        FAST,
        workers=2,
        jobs=0,
        speed=4.0,
        failure_rate=0,
        crash_rate=0,
        autoscale=False,
    )
    app = _start(app_started, config, on_activity=recorder)
    app.submit(2)
    wait_for(lambda: app.counts().in_flight == 2)

    assert app.remove_worker()

    wait_for(lambda: len(app.snapshot().queue.workers) == 1)
    assert app.counts().completed >= 1 and app.counts().crashed == 0
    assert [e.detail.endswith("(normal)") for e in recorder.kinds("worker_removed")]


def test_idle_workers_beyond_the_workers_count_time_out(app_started) -> None:
    config = replace(FAST, workers=1, max_workers=3, jobs=0, idle_timeout=0.05, speed=1)
    app = _start(app_started, config)
    assert app.add_worker() and app.add_worker()

    wait_for(lambda: len(app.snapshot().queue.workers) == 1)

    assert app.snapshot().queue.target_workers == 1


def test_crashed_workers_are_replaced(app_started, error_reports) -> None:
    config = replace(FAST, workers=2, jobs=0, autoscale=False)
    app = _start(app_started, config)
    wait_for(lambda: len(app.snapshot().queue.workers) == 2)
    victim = app.snapshot().queue.workers[0].pid

    greensup.exit(victim, "kill")

    wait_for(lambda: victim not in {w.pid for w in app.snapshot().queue.workers})
    wait_for(lambda: len(app.snapshot().queue.workers) == 2)
    assert dict(app.snapshot().queue.last_crashes)[1].reason == "killed"


# -- snapshots ---------------------------------------------------------------


def test_snapshot_shows_jobs_in_flight_retries_stats_and_the_tree(app_started) -> None:
    config = replace(
        FAST,
        workers=1,
        jobs=3,
        speed=2.0,
        failure_rate=0,
        crash_rate=0,
        autoscale=False,
    )
    app = _start(app_started, config)
    _busy_worker(app)

    snapshot = app.snapshot()

    (worker,) = snapshot.queue.workers
    assert worker.job_type and worker.file_name and worker.attempt == 1
    assert 0.0 <= worker.progress <= 1.0 and worker.expected > 0
    assert snapshot.queue.counts.pending == 2 and snapshot.queue.max_depth == 100
    assert [child.id for child in snapshot.tree] == [
        "job_queue",
        "worker_supervisor",
        "retry_manager",
        "dead_letter_store",
        "stats_collector",
    ]
    assert {child.restarts for child in snapshot.tree} == {0}
    assert snapshot.stats.recent[-1].kind in ("queued", "worker_added")


def test_stats_report_throughput_and_average_run_time() -> None:
    config = replace(FAST, jobs=30, failure_rate=0, crash_rate=0, stats_interval=0.01)

    summary = _run(config)

    assert summary.completed == 30
    assert summary.throughput > 0 and summary.avg_ms > 0


def test_a_duration_stops_gracefully_with_nothing_in_flight() -> None:
    config = replace(FAST, jobs=40, workers=2, max_workers=2, speed=10.0)
    app = JobQueueApp(config)

    status = run_app(app, duration=0.3, signals=False)

    assert status == 0 and app.summary.in_flight == 0
    assert app.summary.pending + app.summary.retrying > 0
    assert_nothing_lost(app.summary)


def test_a_start_with_nothing_to_do_is_idle_at_once() -> None:
    recorder = Recorder()

    summary = _run(replace(FAST, jobs=0), recorder)

    assert summary.submitted == summary.resumed == summary.completed == 0
    assert len(recorder.kinds("worker_added")) == FAST.workers


def test_a_restarted_queue_takes_over_jobs_workers_and_counts(
    app_started, error_reports
) -> None:
    recorder = Recorder()
    config = replace(FAST, jobs=30, workers=2, max_workers=2, speed=20.0)
    app = _start(app_started, config, on_activity=recorder)
    wait_for(lambda: len(recorder.kinds("completed")) >= 5)
    queue = greensup.whereis(config.names.queue)

    greensup.exit(queue, "kill")
    wait_for(lambda: greensup.whereis(config.names.queue) not in (None, queue))
    me = greensup.self_pid()
    app.notify_idle(me)
    greensup.receive(timeout=30, match=lambda m: m[:1] == ("queue_idle",))

    counts = app.counts()
    assert_nothing_lost(counts)
    assert counts.completed + counts.dead_lettered == 30
    assert {child.id: child.restarts for child in app.tree()}["job_queue"] == 1


def test_a_permanent_failure_goes_to_the_dead_letters_without_a_retry(
    monkeypatch,
) -> None:
    def plan(self: Simulation, job: Job, attempt: int) -> AttemptPlan:
        return AttemptPlan(0.0, "permanent", f"{job.file_name} is not an image")

    monkeypatch.setattr(Simulation, "plan", plan)
    recorder = Recorder()

    summary = _run(replace(FAST, jobs=3), recorder)

    assert (summary.failed, summary.retried, summary.dead_lettered) == (3, 0, 3)
    assert_nothing_lost(summary)
    assert recorder.kinds("dead_lettered")[0].detail == "after 1 attempt (0/3 retries)"


def test_nothing_is_lost_at_any_moment_of_a_run(app_started, error_reports) -> None:
    config = replace(FAST, jobs=40, speed=50.0, failure_rate=0.3, crash_rate=0.1)
    app = _start(app_started, config)
    samples: list[Counts] = []

    def settled() -> bool:
        samples.append(app.counts())
        return samples[-1].completed + samples[-1].dead_lettered == 40

    wait_for(settled)

    assert len(samples) > 10
    for counts in samples:
        assert_nothing_lost(counts)


def test_run_app_returns_1_when_the_tree_dies(error_reports) -> None:
    config = replace(FAST, jobs=0)
    app = JobQueueApp(config)

    def kill_the_root() -> None:
        wait_for(lambda: app.root is not None)
        greensup.exit(app.root, "kill")

    greensup.spawn(kill_the_root)
    status = run_app(app, signals=False)

    assert status == 1 and app.summary is None
    assert greensup.whereis(config.names.queue) is None

"""The demo's jobs and their seeded simulation: pure values, no processes."""

from __future__ import annotations

import pytest

from demo.job import (
    JOB_TYPES,
    MAX_ATTEMPTS,
    Job,
    JobFactory,
    Simulation,
    backoff,
)


def _jobs(count: int, seed: int = 7) -> list[Job]:
    factory = JobFactory(seed)
    return [factory.make() for _ in range(count)]


def test_job_types_cost_between_200_ms_and_2_s() -> None:
    for low, high in JOB_TYPES.values():
        assert 0.2 <= low < high <= 2.0


def test_factory_with_a_seed_repeats_types_files_and_faults() -> None:
    first, second = _jobs(20), _jobs(20)

    strip = [(j.type, j.file_name, j.fault_seed) for j in first]

    assert strip == [(j.type, j.file_name, j.fault_seed) for j in second]


def test_factory_ids_are_unique_even_with_the_same_seed() -> None:
    ids = [job.id for job in _jobs(50) + _jobs(50)]

    assert len(set(ids)) == 100


def test_plan_depends_only_on_job_attempt_and_rates() -> None:
    simulation = Simulation(failure_rate=0.3, crash_rate=0.1)
    job = _jobs(1)[0]

    plans = [simulation.plan(job, attempt) for attempt in (1, 2, 3, 1)]

    assert plans[0] == plans[3]


def test_plan_durations_fall_in_the_type_range_divided_by_speed() -> None:
    simulation = Simulation(failure_rate=0.0, crash_rate=0.0, speed=4.0)

    for job in _jobs(200):
        low, high = JOB_TYPES[job.type]
        assert low / 4.0 <= simulation.plan(job, 1).duration <= high / 4.0


def test_plan_outcomes_follow_the_rates_roughly() -> None:
    simulation = Simulation(failure_rate=0.2, crash_rate=0.05)

    outcomes = [simulation.plan(job, 1).outcome for job in _jobs(4000)]

    assert 0.17 < outcomes.count("fail") / 4000 < 0.23
    assert 0.035 < outcomes.count("crash") / 4000 < 0.065


@pytest.mark.parametrize(
    ("failure_rate", "crash_rate", "outcome"),
    [(1.0, 0.0, "fail"), (0.0, 1.0, "crash"), (1.0, 1.0, "crash"), (0.0, 0.0, "ok")],
)
def test_plan_with_extreme_rates_always_gives_the_same_outcome(
    failure_rate: float, crash_rate: float, outcome: str
) -> None:
    simulation = Simulation(failure_rate=failure_rate, crash_rate=crash_rate)

    outcomes = {simulation.plan(job, n).outcome for job in _jobs(50) for n in (1, 4)}

    assert outcomes == {outcome}


def test_failed_plans_carry_an_error_naming_the_file() -> None:
    simulation = Simulation(failure_rate=1.0, crash_rate=0.0)
    job = _jobs(1)[0]

    plan = simulation.plan(job, 1)

    assert plan.error and (job.file_name in plan.error or "cache" in plan.error)


def test_zero_cost_scale_makes_attempts_free() -> None:
    simulation = Simulation(cost_scale=0.0, failure_rate=0.0, crash_rate=0.0)

    assert {simulation.plan(job, 1).duration for job in _jobs(20)} == {0.0}


def test_backoff_doubles_from_one_second_and_divides_by_speed() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert backoff(3, speed=20) == pytest.approx(0.2)


def test_backoff_rejects_a_retry_number_below_one() -> None:
    with pytest.raises(ValueError, match=r"^retry number must be at least 1, not 0$"):
        backoff(0)


def test_after_failure_counts_the_attempt_and_keeps_every_error() -> None:
    job = _jobs(1)[0]

    for n in range(MAX_ATTEMPTS):
        job = job.after_failure(f"error {n}")

    assert job.attempts == MAX_ATTEMPTS
    assert job.errors == ("error 0", "error 1", "error 2", "error 3")


def test_job_round_trips_through_its_dict_form() -> None:
    job = _jobs(1)[0].after_failure("boom")

    assert Job.from_dict(job.to_dict()) == job


@pytest.mark.parametrize(
    "damage",
    [
        {"id": 3},
        {"type": "shred"},
        {"errors": "boom"},
        {"attempts": True},
        {"id": None},
    ],
)
def test_job_from_a_malformed_dict_raises_value_error(damage: dict) -> None:
    data = {**_jobs(1)[0].to_dict(), **damage}

    with pytest.raises(ValueError, match=r"^malformed job record"):
        Job.from_dict(data)

"""The demo's durable state: unfinished jobs and dead letters in Store files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import greensup
from demo.job import JobFactory
from demo.state import (
    DEAD_LETTERS_FILE,
    JOBS_FILE,
    CorruptState,
    LocalState,
    check_state_files,
)


@pytest.fixture
def jobs() -> JobFactory:
    return JobFactory(3)


def test_saved_jobs_survive_closing_and_reopening(tmp_path: Path, jobs) -> None:
    first, second = jobs.make(), jobs.make().after_failure("timeout")
    state = LocalState(str(tmp_path))
    state.save(first, "pending")
    state.save(second, "retrying", due_at=123.5)
    state.close()

    reopened = LocalState(str(tmp_path))
    saved = reopened.load()
    reopened.close()

    assert [(s.job, s.status, s.due_at) for s in saved] == [
        (first, "pending", None),
        (second, "retrying", 123.5),
    ]


def test_removed_jobs_are_not_loaded(jobs) -> None:
    state = LocalState(None)
    job = jobs.make()
    state.save(job, "pending")

    state.remove(job.id)

    assert state.load() == []
    state.close()


def test_dead_letter_moves_the_job_out_of_the_unfinished_ones(tmp_path: Path, jobs):
    job = jobs.make().after_failure("a").after_failure("b")
    state = LocalState(str(tmp_path))
    state.save(job, "retrying", due_at=1.0)

    state.add_dead_letter(job)

    assert state.load() == []
    assert state.dead_letters() == [job]
    assert state.dead_letter_count() == 1
    state.close()
    assert LocalState.read_dead_letters(str(tmp_path)) == [job]


def test_check_state_files_accepts_a_missing_or_empty_directory(tmp_path: Path):
    check_state_files(str(tmp_path))

    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", [JOBS_FILE, DEAD_LETTERS_FILE])
def test_a_file_that_is_not_sqlite_is_corrupt(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"this is not a database at all, just some text\n")

    with pytest.raises(CorruptState, match=rf"^corrupt state file {path}: "):
        LocalState(str(tmp_path))

    assert path.read_bytes().startswith(b"this is not a database")


def test_a_malformed_record_is_corrupt_and_names_the_file(tmp_path: Path, jobs):
    store = greensup.Store("raw", path=str(tmp_path / JOBS_FILE))
    store.put("abc", {"job": {"id": 1}, "status": "pending"})
    store.close()

    with pytest.raises(CorruptState, match=rf"{JOBS_FILE}: malformed job record"):
        LocalState(str(tmp_path))


def test_changes_reach_the_file_only_at_the_flush(tmp_path: Path, jobs) -> None:
    job = jobs.make()
    state = LocalState(str(tmp_path))
    state.save(job, "pending")

    before = _saved_ids(tmp_path)
    state.flush()
    after = _saved_ids(tmp_path)

    state.close()
    assert before == set() and after == {job.id}


def test_a_job_saved_and_removed_between_flushes_is_never_written(
    tmp_path: Path, jobs
) -> None:
    kept, finished = jobs.make(), jobs.make()
    state = LocalState(str(tmp_path))
    state.save(kept, "pending")
    state.save(finished, "pending")

    state.remove(finished.id)
    state.flush()

    assert _saved_ids(tmp_path) == {kept.id}
    state.remove(kept.id)
    state.close()
    assert _saved_ids(tmp_path) == set()


def test_close_flushes_what_is_left(tmp_path: Path, jobs) -> None:
    job = jobs.make()
    state = LocalState(str(tmp_path))
    state.save(job, "retrying", due_at=5.0)

    state.close()

    assert _saved_ids(tmp_path) == {job.id}


def _saved_ids(data_dir: Path) -> set[str]:
    store = greensup.Store("peek", path=str(data_dir / JOBS_FILE))
    try:
        return {str(key) for key in store.keys()}
    finally:
        store.close()

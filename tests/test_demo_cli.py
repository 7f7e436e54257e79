"""The demo's command line: option checks, the data directory, dead-letter listing.

Bad input must give exit status 2 and one line naming the option, value or
path, and leave the data directory as it was.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from demo.job import JobFactory
from demo.run import UsageError, default_data_dir, main, parse_args
from demo.state import DEAD_LETTERS_FILE, JOBS_FILE, LocalState


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_defaults_follow_the_demo_specification(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    options, config = parse_args([])

    assert (config.workers, config.max_workers, config.jobs) == (4, 8, 20)
    assert (config.rate, config.max_depth, config.speed) == (0.0, 100, 1.0)
    assert (config.failure_rate, config.crash_rate) == (0.2, 0.05)
    assert options.data_dir == str(tmp_path / "greensup-demo")
    assert not options.headless and not options.until_idle


def test_default_data_dir_without_xdg_is_under_local_state(monkeypatch) -> None:
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", "/home/someone")

    assert default_data_dir() == "/home/someone/.local/state/greensup-demo"


def test_options_reach_the_config(tmp_path: Path) -> None:
    argv = ["--workers", "2", "--max-workers", "3", "--jobs", "0", "--rate", "5"]
    argv += ["--max-depth", "1", "--failure-rate", "1", "--crash-rate", "0"]
    argv += ["--speed", "50", "--seed", "9", "--data-dir", str(tmp_path)]

    _, config = parse_args(argv)

    assert (config.workers, config.max_workers, config.jobs, config.rate) == (
        2,
        3,
        0,
        5,
    )
    assert (config.max_depth, config.failure_rate, config.crash_rate) == (1, 1.0, 0.0)
    assert (config.speed, config.seed, config.data_dir) == (50.0, 9, str(tmp_path))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--workers", "-1"],
            "argument --workers: invalid value '-1': must be at least 1",
        ),
        (
            ["--workers", "0"],
            "argument --workers: invalid value '0': must be at least 1",
        ),
        (["--jobs", "-5"], "argument --jobs: invalid value '-5': must be at least 0"),
        (["--jobs", "ten"], "argument --jobs: invalid value 'ten': not an integer"),
        (
            ["--rate", "-0.5"],
            "argument --rate: invalid value '-0.5': must be at least 0",
        ),
        (
            ["--rate", "nan"],
            "argument --rate: invalid value 'nan': not a finite number",
        ),
        (
            ["--max-depth", "0"],
            "argument --max-depth: invalid value '0': must be at least 1",
        ),
        (
            ["--failure-rate", "1.5"],
            "argument --failure-rate: invalid value '1.5': must be between 0 and 1",
        ),
        (
            ["--crash-rate", "-0.1"],
            "argument --crash-rate: invalid value '-0.1': must be between 0 and 1",
        ),
        (["--speed", "0"], "argument --speed: invalid value '0': must be above 0"),
        (
            ["--speed", "inf"],
            "argument --speed: invalid value 'inf': not a finite number",
        ),
        (
            ["--duration", "-1"],
            "argument --duration: invalid value '-1': must be above 0",
        ),
        (
            ["--workers", "9"],
            "argument --max-workers: invalid value 8: below --workers 9",
        ),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_values_raise_a_usage_error_naming_the_option(
    argv: list[str], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_args(argv)

    assert str(caught.value) == message


def test_bad_input_exits_2_with_one_line_and_no_data_dir(
    tmp_path: Path, capsys
) -> None:
    data_dir = tmp_path / "state"

    status = main(["--workers", "-1", "--data-dir", str(data_dir)], io.StringIO())

    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("run.py: error: argument --workers")
    assert not data_dir.exists()


def test_a_data_dir_below_a_file_is_rejected(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")

    status = main(["--data-dir", str(blocker / "state")], io.StringIO())

    err = capsys.readouterr().err
    assert status == 2
    assert err == f"run.py: error: argument --data-dir: {blocker}: not a directory\n"


def test_a_corrupt_state_file_exits_2_naming_it_and_is_left_alone(
    tmp_path: Path, capsys
) -> None:
    (tmp_path / JOBS_FILE).write_bytes(b"garbage" * 10)
    before = _snapshot(tmp_path)

    status = main(["--data-dir", str(tmp_path), "--headless"], io.StringIO())

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"run.py: error: corrupt state file {tmp_path / JOBS_FILE}")
    assert err.count("\n") == 1
    assert _snapshot(tmp_path) == before


def test_a_summary_path_in_a_missing_directory_exits_2(tmp_path: Path, capsys):
    path = tmp_path / "no" / "out.json"

    status = main(["--summary", str(path)], io.StringIO())

    assert status == 2
    assert capsys.readouterr().err == (
        f"run.py: error: argument --summary: {path}: directory does not exist\n"
    )


def test_list_dead_letters_prints_json_lines_and_changes_nothing(tmp_path: Path):
    factory = JobFactory(1)
    dead = [factory.make().after_failure("e1").after_failure("e2") for _ in range(2)]
    state = LocalState(str(tmp_path))
    for job in dead:
        state.add_dead_letter(job)
    state.close()
    before = _snapshot(tmp_path)
    out = io.StringIO()

    status = main(["--list-dead-letters", "--data-dir", str(tmp_path)], out)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert status == 0
    assert [line["id"] for line in lines] == [job.id for job in dead]
    assert lines[0]["errors"] == ["e1", "e2"] and lines[0]["attempts"] == 2
    assert set(lines[0]) == {
        "id",
        "type",
        "file_name",
        "attempts",
        "errors",
        "submitted_at",
    }
    assert _snapshot(tmp_path) == before


def test_list_dead_letters_of_a_missing_data_dir_prints_nothing(tmp_path: Path):
    out = io.StringIO()

    status = main(["--list-dead-letters", "--data-dir", str(tmp_path / "x")], out)

    assert status == 0 and out.getvalue() == ""
    assert not (tmp_path / "x").exists()


def test_list_dead_letters_of_a_corrupt_file_exits_2(tmp_path: Path, capsys):
    (tmp_path / DEAD_LETTERS_FILE).write_bytes(b"not sqlite")

    status = main(["--list-dead-letters", "--data-dir", str(tmp_path)], io.StringIO())

    assert status == 2
    assert DEAD_LETTERS_FILE in capsys.readouterr().err
    assert os.listdir(tmp_path) == [DEAD_LETTERS_FILE]

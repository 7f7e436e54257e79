"""Smoke test of the pipeline benchmark: a short run completes and gives a rate."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_pipeline  # noqa: E402


@pytest.mark.parametrize("durable", [True, False])
def test_pipeline_benchmark_pushes_every_job_through(durable: bool) -> None:
    rate = bench_pipeline.measure(300, workers=2, durable=durable)

    assert rate > 0


def test_pipeline_benchmark_script_prints_jobs_per_second(capsys) -> None:
    assert bench_pipeline.main(["--jobs", "200", "--memory"]) == 0

    assert capsys.readouterr().out.startswith("pipeline: 200 jobs, state in memory: ")

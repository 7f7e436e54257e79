"""Smoke test of the benchmarks: the quick mode runs and prints its table.

The figures themselves are never checked here: speed is what ``make bench`` reports.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def test_quick_benchmark_prints_a_table_for_greensup_and_raw_gevent() -> None:
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--no-store", "--no-write"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("machine: ")
    assert "| workload | unit | greensup | raw gevent |" in done.stdout
    assert "| call round trip | calls/s |" in done.stdout

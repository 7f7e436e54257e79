"""The example service, run as an OS process and driven over a loopback socket:
requests work, each supervised part comes back after a kill, and SIGTERM stops it
gracefully."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "examples" / "service.py"


class Service:
    """A running example service and a small HTTP client for it."""

    def __init__(self, process: subprocess.Popen[str], base: str) -> None:
        self.process = process
        self.base = base

    def request(self, method: str, path: str, body: str | None = None) -> Any:
        data = body.encode("utf-8") if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def status(self) -> dict[str, Any]:
        return self.request("GET", "/status")


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll ``predicate`` until it returns something true; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"condition not met in {timeout}s"
        time.sleep(0.02)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    process = subprocess.Popen(
        [sys.executable, str(SERVICE), "--port", "0", "--tick", "0.05"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("listening on "), f"service did not start: {line!r}"
        yield Service(process, line.split()[-1])
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def finished_job(service: Service, text: str) -> dict[str, Any]:
    number = service.request("POST", "/jobs", text)["id"]
    return wait_for(lambda: _done(service.request("GET", f"/jobs/{number}")))


def _done(job: dict[str, Any]) -> dict[str, Any] | None:
    return job if job.get("state") == "done" else None


def test_example_service_serves_requests_and_runs_jobs(service: Service) -> None:
    hello = service.request("GET", "/")
    job = finished_job(service, "the quick brown fox")

    assert hello["hello"] == "from greensup"
    assert job["result"]["words"] == 4
    assert wait_for(lambda: service.status()["ticks"] >= 3)


@pytest.mark.parametrize("part", ["worker", "ticker", "http"])
def test_example_service_repairs_a_killed_part(service: Service, part: str) -> None:
    before = service.status()

    killed = service.request("POST", f"/kill/{part}")

    assert killed["pid"] == before["pids"][part]
    after = wait_for(
        lambda: (s := service.status())["pids"][part] != before["pids"][part] and s
    )
    assert {k: v for k, v in after["pids"].items() if k != part} == {
        k: v for k, v in before["pids"].items() if k != part
    }
    ticks = after["ticks"]
    assert wait_for(lambda: service.status()["ticks"] > ticks + 2)
    assert finished_job(service, "works again")["result"]["words"] == 2


def test_example_service_finishes_a_job_queued_while_the_worker_was_dead(
    service: Service,
) -> None:
    service.request("POST", "/kill/worker")

    job = finished_job(service, "one two three")

    assert job["result"]["words"] == 3


def test_example_service_stops_gracefully_on_sigterm(service: Service) -> None:
    service.request("POST", "/kill/worker")
    finished_job(service, "before stopping")

    service.process.send_signal(signal.SIGTERM)
    code = service.process.wait(timeout=20)

    log = service.process.stderr.read() if service.process.stderr else ""
    assert code == 0, log
    assert (
        "supervisor report: supervisor=service_sup error=child_terminated "
        "child_id='worker'" in log
    )
    assert "reason=killed action=restart" in log
    assert "application report: application=Service event=stopped" in log

"""The job-queue demo's pipeline, end to end, with zero-cost jobs and no faults.

The demo runs through its own command line (``demo.run.main``) in this OS process,
headless, its activity lines going to memory: the whole supervision tree starts,
``n`` jobs go through the queue, the workers, the stats collector, and the demo
stops gracefully once idle. The figure is completed jobs per second of that run.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _common import Figures, Unsupported, settle

__all__ = ["run_pipeline"]

_ROOT = Path(__file__).resolve().parent.parent

#: Divides every simulated job duration: jobs cost nothing but a hub turn.
_SPEED = 1e9


def _demo_main() -> object:
    if str(_ROOT) not in sys.path:
        sys.path.insert(0, str(_ROOT))
    try:
        from demo.run import main
    except ImportError as exc:
        raise Unsupported(f"pending: the demo is not there yet ({exc.name})") from exc
    return main


@contextlib.contextmanager
def _loggers_restored(*names: str) -> Iterator[None]:
    """Undo the handlers and levels the demo sets, closing its log file."""
    loggers = [logging.getLogger(name) for name in names]
    saved = [(logger.handlers[:], logger.level) for logger in loggers]
    try:
        yield
    finally:
        for logger, (handlers, level) in zip(loggers, saved, strict=True):
            for handler in logger.handlers:
                if handler not in handlers:
                    handler.close()
            logger.handlers[:] = handlers
            logger.setLevel(level)


def run_pipeline(n: int) -> Figures:
    """Push ``n`` jobs through the demo's supervision tree; return jobs per second."""
    main = _demo_main()
    with tempfile.TemporaryDirectory(prefix="greensup-bench-") as data_dir:
        summary_path = Path(data_dir) / "summary.json"
        argv = [
            "--headless",
            "--until-idle",
            f"--jobs={n}",
            f"--max-depth={n}",
            "--failure-rate=0",
            "--crash-rate=0",
            f"--speed={_SPEED:g}",
            "--seed=1",
            f"--data-dir={data_dir}/state",
            f"--summary={summary_path}",
        ]
        settle()

        with _loggers_restored("greensup", "demo"):
            started = time.perf_counter()
            status = main(argv, out=io.StringIO())  # type: ignore[operator]
            elapsed = time.perf_counter() - started

        if status != 0:
            raise RuntimeError(f"the demo exited with status {status}")
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    completed = summary["completed"]
    if completed != n:
        raise RuntimeError(f"the demo completed {completed} of {n} jobs")
    return {"rate": completed / elapsed}

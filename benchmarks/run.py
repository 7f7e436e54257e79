"""Compare greensup with raw gevent and the Python peers, workload by workload.

Usage::

    python benchmarks/run.py                 # every system, 5 rounds, writes docs/
    python benchmarks/run.py --quick         # greensup and raw gevent, small sizes
    python benchmarks/run.py --only calls --only memory --repeat 3

Every measurement runs in a fresh OS process (``cell.py``); the rounds alternate
the order of the systems so that no system always runs first or last. The table
gives the median and the min-max spread of the rounds, each figure's ratio to raw
gevent, and greensup's targets. A full run also writes ``docs/benchmarks.md`` and
``docs/benchmarks.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from report import (
    Row,
    Table,
    machine_line,
    render_markdown,
    write_chart,
    write_docs,
)

__all__ = ["QUICK_SIZES", "ROWS", "SIZES", "main", "measure"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

ALL_SYSTEMS = ("greensup", "gevent", "pykka", "thespian", "triotp")
QUICK_SYSTEMS = ("greensup", "gevent")

#: Operations per workload run.
SIZES = {
    "casts": 200_000,
    "calls": 50_000,
    "start_stop": 10_000,
    "supervised": 10_000,
    "restart": 1_000,
    "memory": 100_000,
    "pipeline": 20_000,
}
QUICK_SIZES = {
    "casts": 5_000,
    "calls": 1_000,
    "start_stop": 300,
    "supervised": 500,
    "restart": 50,
    "memory": 2_000,
    "pipeline": 200,
}

ROWS = (
    Row("casts", "rate", "cast stream to one server", "msgs/s", ratio_target=0.25),
    Row("calls", "rate", "call round trip", "calls/s", ratio_target=0.7),
    Row("start_stop", "rate", "start-and-stop", "servers/s", ratio_target=0.4),
    Row("supervised", "start", "10k supervised children: start", "children/s",
        ratio_target=0.3),
    Row("supervised", "stop", "10k supervised children: shut down", "children/s",
        ratio_target=0.3),
    Row("restart", "median_ms", "restart after a crash, median", "ms",
        higher_is_better=False, absolute_target=1.0),
    Row("restart", "p99_ms", "restart after a crash, p99", "ms",
        higher_is_better=False),
    Row("memory", "bytes", "memory per idle server (100k)", "bytes",
        higher_is_better=False, ratio_target=1.1),
    Row("pipeline", "rate", "job-queue pipeline, end to end", "jobs/s",
        absolute_target=5000.0),
)  # fmt: skip


def measure(
    system: str, jobs: list[tuple[str, int]], timeout: float
) -> list[dict[str, object]]:
    """Run ``jobs`` (workload, size) on ``system`` in one fresh OS process.

    Returns one JSON answer per job; those a crash or the timeout cut short say so.
    """
    command = [sys.executable, str(HERE / "cell.py"), system]
    for workload, n in jobs:
        command += [workload, str(n)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]))
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env
        )
        answers = [json.loads(line) for line in done.stdout.splitlines() if line]
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        failure = f"exit {done.returncode}: {last}"[:120]
    except subprocess.TimeoutExpired:
        answers, failure = [], f"timed out after {timeout:.0f}s"
    return answers + [{"error": failure}] * (len(jobs) - len(answers))


def run_rounds(
    workloads: list[str],
    systems: tuple[str, ...],
    sizes: dict[str, int],
    repeat: int,
    timeout: float,
    together: bool = False,
) -> Table:
    """Run every workload on every system ``repeat`` times, alternating systems.

    With ``together``, the workloads of one system share an OS process (memory
    still gets its own): quicker, less isolated.
    """
    table = Table(systems=systems, sizes=sizes)
    for round_index in range(repeat):
        shift = round_index % len(systems)
        order = systems[shift:] + systems[:shift]
        if together:
            batches = [[w for w in workloads if w != "memory"]]
            batches += [["memory"]] if "memory" in workloads else []
            steps = [(batch, system) for system in order for batch in batches]
        else:
            steps = [([w], system) for w in workloads for system in order]
        for batch, system in steps:
            started = time.perf_counter()
            jobs = [(w, sizes[w]) for w in batch]
            for workload, answer in zip(
                batch, measure(system, jobs, timeout), strict=True
            ):
                table.add(workload, system, answer)
                _progress(round_index, workload, system, answer, started)
    return table


def _progress(
    round_index: int,
    workload: str,
    system: str,
    answer: dict[str, object],
    started: float,
) -> None:
    seconds = time.perf_counter() - started
    shown = answer.get("figures") or answer.get("unsupported") or answer.get("error")
    print(
        f"  round {round_index + 1} {workload:<10} {system:<9} {seconds:5.1f}s {shown}",
        file=sys.stderr,
        flush=True,
    )


def run_store_benchmark(quick: bool) -> str | None:
    """Run ``bench_store.py`` if it is there and return what it printed."""
    script = HERE / "bench_store.py"
    if not script.exists():
        return None
    command = [sys.executable, str(script)] + (["--quick"] if quick else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]))
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"bench_store.py failed (exit {done.returncode}): {last}"
    return done.stdout.rstrip()


def save_answers(table: Table, machine: str, repeat: int, path: Path) -> None:
    """Keep every round's raw answers beside the docs, for a later look."""
    answers = [
        {"workload": workload, "system": system, "rounds": rounds}
        for (workload, system), rounds in table.answers.items()
    ]
    document = {
        "machine": machine,
        "repeat": repeat,
        "sizes": table.sizes,
        "answers": answers,
    }
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="greensup and raw gevent, small sizes"
    )
    parser.add_argument(
        "--only", action="append", choices=sorted(SIZES), metavar="NAME",
        help=f"run only this workload (repeatable): {', '.join(SIZES)}",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, help="rounds (default 5, quick 1)")
    parser.add_argument(
        "--systems", help=f"comma-separated subset of {','.join(ALL_SYSTEMS)}"
    )
    parser.add_argument(
        "--write", action=argparse.BooleanOptionalAction, default=None,
        help="write docs/benchmarks.md and .png (default: on unless --quick)",
    )  # fmt: skip
    parser.add_argument(
        "--store", action=argparse.BooleanOptionalAction, default=True,
        help="also run bench_store.py when it exists",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the table and write the docs."""
    args = _parse(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    systems = QUICK_SYSTEMS if args.quick else ALL_SYSTEMS
    if args.systems:
        systems = tuple(s for s in args.systems.split(",") if s)
    repeat = args.repeat or (1 if args.quick else 5)
    write = (not args.quick) if args.write is None else args.write
    workloads = args.only or list(sizes)
    timeout = 60.0 if args.quick else 600.0

    machine = machine_line()
    print(machine, file=sys.stderr, flush=True)
    table = run_rounds(workloads, systems, sizes, repeat, timeout, args.quick)
    rows = [row for row in ROWS if row.workload in workloads]
    markdown = render_markdown(table, rows, repeat)
    store = run_store_benchmark(args.quick) if args.store else None

    print(machine)
    print()
    print(markdown)
    if store:
        print()
        print(store)
    if write:
        docs = ROOT / "docs"
        write_chart(table, rows, docs / "benchmarks.png")
        write_docs(docs / "benchmarks.md", machine, markdown, store, repeat)
        save_answers(table, machine, repeat, docs / "benchmarks.json")
        print(f"\nwrote {docs / 'benchmarks.md'} and {docs / 'benchmarks.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

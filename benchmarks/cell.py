"""Run workloads on one system in this fresh OS process and print their figures.

Usage: ``python benchmarks/cell.py SYSTEM WORKLOAD N [WORKLOAD N ...]``. The output
is one JSON line per workload, in order: ``{"figures": {...}}``,
``{"unsupported": "why"}`` or ``{"error": "what"}``. A full run gives each cell its
own OS process, so that no system's leftovers (processes, caches, a fragmented heap)
bias the next measurement and memory is measured from a clean start; the quick
mode runs several workloads in one OS process to stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
import warnings

from _common import Unsupported

__all__ = ["SYSTEMS", "main", "run_cell"]

#: System name -> the module holding its workloads.
SYSTEMS: dict[str, str] = {
    "greensup": "workloads_greensup",
    "gevent": "workloads_gevent",
    "pykka": "workloads_pykka",
    "thespian": "workloads_thespian",
    "triotp": "workloads_triotp",
}

#: Workloads measured without a warm-up pass (the measure is the whole run).
_NO_WARMUP = frozenset({"memory", "pipeline"})


def run_cell(system: str, workload: str, n: int) -> dict[str, object]:
    """Run ``workload`` on ``system`` with size ``n`` and return the JSON answer."""
    try:
        module = importlib.import_module(SYSTEMS[system])
    except ModuleNotFoundError as exc:
        return {"unsupported": f"not installed ({exc.name})"}

    fn = module.WORKLOADS[workload]
    try:
        if workload not in _NO_WARMUP:
            fn(max(1, n // 10))
        return {"figures": fn(n)}
    except Unsupported as exc:
        return {"unsupported": str(exc)}
    except AttributeError as exc:
        if exc.obj is sys.modules.get(system):
            return {"unsupported": f"pending: {system} has no {exc.name} yet"}
        return _error(exc)
    except Exception as exc:
        return _error(exc)


def _error(exc: Exception) -> dict[str, object]:
    traceback.print_exc()
    return {"error": f"{type(exc).__name__}: {exc}"[:120]}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the cell and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("jobs", nargs="+", metavar="WORKLOAD N")
    args = parser.parse_args(argv)
    if len(args.jobs) % 2:
        parser.error("give a size N after each workload")

    warnings.simplefilter("ignore", DeprecationWarning)
    for workload, n in zip(args.jobs[::2], args.jobs[1::2], strict=True):
        answer = run_cell(args.system, workload, int(n))
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

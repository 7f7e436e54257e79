"""Profile one workload on one system with cProfile and print where the time goes.

Usage: ``python benchmarks/profile_cell.py greensup start_stop 5000 [--top 25]``.
Prints the functions with the most own time (``tottime``), each with its share of
the whole run, then the ones with the most cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import pstats
import sys
import warnings

from cell import SYSTEMS

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the workload under cProfile and print the top functions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("workload")
    parser.add_argument("n", type=int)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    warnings.simplefilter("ignore", DeprecationWarning)
    fn = importlib.import_module(SYSTEMS[args.system]).WORKLOADS[args.workload]
    fn(max(1, args.n // 10))
    profiler = cProfile.Profile()
    profiler.enable()
    figures = fn(args.n)
    profiler.disable()

    print(f"{args.system} {args.workload} n={args.n}: {figures} (under cProfile)")
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    for key in ("tottime", "cumulative"):
        print(f"\n-- top {args.top} by {key} (share of {total:.2f}s total) --")
        _print_top(stats, key, args.top, total)
    return 0


def _print_top(stats: pstats.Stats, key: str, top: int, total: float) -> None:
    rows = stats.stats.items()  # type: ignore[attr-defined]
    index = 2 if key == "tottime" else 3
    ordered = sorted(rows, key=lambda item: item[1][index], reverse=True)[:top]
    for (path, line, name), (_, calls, tottime, cumtime, _) in ordered:
        where = f"{path.rsplit('/', 2)[-2:][-1] if '/' in path else path}:{line}"
        print(
            f"{100 * tottime / total:5.1f}% own {100 * cumtime / total:5.1f}% cum "
            f"{calls:>8} calls  {name} ({where})"
        )


if __name__ == "__main__":
    sys.exit(main())

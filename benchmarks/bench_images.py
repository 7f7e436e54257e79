"""Images per second of the demo's image mode, against a plain loop.

Generates a set of noisy photos (about 2000x1500, so that decoding and
encoding them is real work), then does the four jobs on every image in two
ways: a plain loop calling :func:`demo.images.process` one job after the
other, and the demo's whole image-mode pipeline (queue, workers, image pool,
durable state, statistics) from the start of the application until it is
idle. It reports images per second for each, the pipeline's ratio to the
loop, the longest hub stall the pipeline's statistics saw, and where the CPU
time went: the demo's own OS process (the hub, and with a thread pool the work
too) and, on Linux, the pool's OS processes. The loop's line gives its CPU time
over its run time: below 1.0, other programs had part of its core.

Other programs on the machine take their share of the cores and change the
figures from one minute to the next: each repeat measures the loop again and
compares the pipelines with it, and the last lines give each ratio's median
and range over the repeats.

Run it as ``python benchmarks/bench_images.py [--quick] [--images N]
[--repeat R]``; the generated images are kept in a cache directory for the
next run.
"""

from __future__ import annotations

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import argparse  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from PIL import Image  # noqa: E402

from demo import images  # noqa: E402
from demo.app import JobQueueApp  # noqa: E402
from demo.config import DemoConfig  # noqa: E402
from demo.image_pool import cores  # noqa: E402
from demo.run import run_app  # noqa: E402

__all__ = ["PipelineResult", "generate", "main", "measure_loop", "measure_pipeline"]

FULL_IMAGES = 200
FULL_SIZE = (2000, 1500)
QUICK_IMAGES = 8
QUICK_SIZE = (400, 300)


@dataclass(frozen=True)
class PipelineResult:
    """One run of the image-mode pipeline.

    Attributes:
        images_per_second: source images done (all four jobs) per second.
        seconds: from the application's start until it stopped.
        max_hub_stall_ms: the longest hub stall its statistics saw.
        completed: jobs completed.
        cpu_seconds: CPU time of this OS process during the run (not of the
            pool's OS processes).
        pool_cpu_seconds: CPU time of the OS processes started during the run
            (the pool's), as last seen by a sampler; 0 where ``/proc`` is
            missing.
    """

    images_per_second: float
    seconds: float
    max_hub_stall_ms: float
    completed: int
    cpu_seconds: float
    pool_cpu_seconds: float


def generate(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    """Write ``count`` noisy JPEG photos of ``size`` into ``folder``, if missing.

    The noise is drawn at a quarter of the size and scaled up: it looks like
    grain, and compresses like a photo rather than like pure noise.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"photo_{number:03d}.jpg"
        if not path.exists():
            small = (size[0] // 4, size[1] // 4)
            grain = Image.effect_noise(small, 60).convert("RGB")
            tint = Image.new("RGB", small, (40 + number % 180, 90, 160))
            photo = Image.blend(grain, tint, 0.4).resize(size, Image.Resampling.BICUBIC)
            photo.save(path, quality=90)
        paths.append(path)
    return paths


def measure_loop(sources: list[Path], out_dir: Path) -> tuple[float, float]:
    """Do the four jobs of every source in a plain loop.

    Returns:
        Images per second, and the loop's CPU time over its run time.
    """
    cpu = _cpu_seconds()
    started = time.perf_counter()
    for source in sources:
        for job_type in images.JOB_TYPES:
            images.process(job_type, source, out_dir)
    seconds = time.perf_counter() - started
    return len(sources) / seconds, (_cpu_seconds() - cpu) / seconds


def measure_pipeline(
    source_dir: Path,
    out_dir: Path,
    workers: int,
    pool: str = "process",
    pool_size: int | None = None,
) -> PipelineResult:
    """Run the demo's image mode on ``source_dir`` until idle; return the figures.

    Blocks until every job has ended and the application has stopped. The
    pool of workers is fixed at ``workers`` (no autoscaling); the durable
    state lives in a temporary directory, as in the demo.
    """
    count = len(images.source_files(source_dir))
    with tempfile.TemporaryDirectory(prefix="bench-images-") as scratch:
        config = DemoConfig(
            workers=workers,
            max_workers=workers,
            jobs=0,
            failure_rate=0.0,
            crash_rate=0.0,
            autoscale=False,
            data_dir=scratch,
            images_dir=str(source_dir),
            out_dir=str(out_dir),
            image_pool=pool,
            pool_size=pool_size,
        )
        app = JobQueueApp(config)
        before = _descendants_cpu()
        seen: dict[int, float] = {}
        sampler = gevent.spawn(_sample_descendants, before, seen)
        cpu = _cpu_seconds()
        started = time.perf_counter()
        status = run_app(app, until_idle=True, signals=False)
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu
        sampler.kill()
    summary = app.summary
    if status != 0 or summary is None:
        raise RuntimeError(f"the image pipeline did not stop cleanly ({status})")
    return PipelineResult(
        count / seconds,
        seconds,
        summary.max_hub_stall_ms,
        summary.completed,
        cpu,
        sum(seen.values()),
    )


def _sample_descendants(before: dict[int, float], seen: dict[int, float]) -> None:
    # The pool's OS processes are gone by the time the app has stopped (and,
    # started by a fork server, they are not this OS process's children):
    # their CPU time is read from /proc while they run. A look takes a few
    # ms of the hub: once a second keeps it out of the figures.
    while True:
        for pid, cpu in _descendants_cpu().items():
            seen[pid] = cpu - before.get(pid, 0.0)
        gevent.sleep(1.0)


def _descendants_cpu() -> dict[int, float]:
    """Return the CPU seconds of every live descendant OS process, by pid."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        parents: dict[int, int] = {}
        times: dict[int, float] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as file:
                    fields = file.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            parents[int(entry)] = int(fields[1])
            times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    except (OSError, ValueError):
        return {}
    me, found = os.getpid(), {}
    for pid in times:
        ancestor = parents.get(pid)
        while ancestor is not None and ancestor > 1:
            if ancestor == me:
                found[pid] = times[pid]
                break
            ancestor = parents.get(ancestor)
    return found


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    """Generate the images, run the loop and the pipelines, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few small images")
    parser.add_argument("--images", type=int, default=None, help="how many images")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=None,
        help="worker counts to run the pipeline with (default: cores, 2x cores)",
    )
    parser.add_argument(
        "--pools",
        nargs="+",
        default=["process", "thread"],
        choices=["process", "thread"],
        help="image pools to measure (default: both)",
    )
    parser.add_argument("--cache", default=None, help="where the images are kept")
    parser.add_argument("--repeat", type=int, default=1, help="rounds to run")
    options = parser.parse_args(argv)

    count = options.images or (QUICK_IMAGES if options.quick else FULL_IMAGES)
    size = QUICK_SIZE if options.quick else FULL_SIZE
    cache = Path(
        options.cache
        or os.path.join(tempfile.gettempdir(), f"greensup-bench-images-{size[0]}")
    )
    sources = generate(cache, count, size)
    source_dir = _fresh(cache.parent / f"{cache.name}-set-{count}")
    for source in sources:
        os.link(source, source_dir / source.name)
    workers = options.workers or [cores(), 2 * cores()]

    print(f"images: {count} of {size[0]}x{size[1]}, {cores()} cores")
    ratios: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-images-out-") as scratch:
        out = Path(scratch)
        for round_number in range(1, options.repeat + 1):
            load = os.getloadavg()[0]
            loop, share = measure_loop(sources, _fresh(out / "loop"))
            print(
                f"round {round_number}, load {load:.2f}: "
                f"plain loop {loop:.2f} images/s, CPU/run time {share:.2f}"
            )
            for pool in options.pools:
                for n in workers:
                    name = f"{pool} pool of {cores()}, {n} workers"
                    result = measure_pipeline(source_dir, _fresh(out / "run"), n, pool)
                    ratio = result.images_per_second / loop
                    ratios.setdefault(name, []).append(ratio)
                    print(
                        f"  pipeline, {name}: "
                        f"{result.images_per_second:.2f} images/s, "
                        f"{ratio:.2f}x the loop, "
                        f"max hub stall {result.max_hub_stall_ms:.0f} ms, "
                        f"CPU: own {result.cpu_seconds:.1f}s, "
                        f"pool {result.pool_cpu_seconds:.1f}s, "
                        f"in {result.seconds:.1f}s"
                    )
    shutil.rmtree(source_dir, ignore_errors=True)
    if options.repeat > 1:
        for name, values in ratios.items():
            print(
                f"{name}: median {statistics.median(values):.2f}x the loop, "
                f"range {min(values):.2f}x to {max(values):.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The demo's command line: ``python demo/run.py [options]``.

Parses and checks the options (bad input: one line on stderr, exit status 2,
the data directory untouched), opens the durable state, then runs the
Application: with the dashboard on a terminal, or headless, printing one
activity line per event. It stops gracefully on SIGINT or SIGTERM, after
``--duration`` seconds, or with ``--until-idle`` once no job is left, and
writes ``--summary``.

With ``--images DIR --out DIR`` the jobs are real image work on the files of
DIR (see :mod:`demo.image_pool`): faults are then only simulated when
``--failure-rate`` or ``--crash-rate`` asks for them, ``--jobs`` and
``--rate`` do not apply, and ``--speed`` scales the backoffs but not the work.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and not __package__:
    # Run as a script, Python puts demo/ first on the path, where queue.py
    # would shadow the standard library's queue: use the repository root.
    _root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[0] = _root

import argparse  # noqa: E402
import fcntl  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import logging.handlers  # noqa: E402
import math  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TextIO  # noqa: E402

import gevent  # noqa: E402

import greensup  # noqa: E402
from demo.app import JobQueueApp, Summary  # noqa: E402
from demo.config import DemoConfig  # noqa: E402
from demo.image_pool import POOL_KINDS, ImagePool, ImageWork  # noqa: E402
from demo.state import (  # noqa: E402
    DEAD_LETTERS_FILE,
    CorruptState,
    LocalState,
    check_state_files,
)
from demo.stats import Activity, format_activity  # noqa: E402
from greensup import timer  # noqa: E402

__all__ = [
    "Options",
    "UsageError",
    "default_data_dir",
    "default_image_data_dir",
    "lock_data_dir",
    "main",
    "parse_args",
    "prepare_data_dir",
    "run_app",
]

PROG = "run.py"
LOG_FILE = "demo.log"
LOCK_FILE = "demo.lock"


class UsageError(Exception):
    """Bad command-line input; the message names the option, value or path."""


class Options(argparse.Namespace):
    """The parsed command line (see :func:`parse_args`)."""

    workers: int
    max_workers: int
    jobs: int
    rate: float
    max_depth: int
    failure_rate: float
    crash_rate: float
    speed: float
    seed: int | None
    data_dir: str
    headless: bool
    duration: float | None
    until_idle: bool
    summary: str | None
    list_dead_letters: bool
    images: str | None
    out: str | None
    pool: str


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, no usage block
        raise UsageError(message)


def _number(
    kind: Callable[[str], Any], low: float, high: float = math.inf, above: bool = False
) -> Callable[[str], Any]:
    """Return an argparse type: ``kind`` within ``low``..``high`` (``above``: > low)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(
                f"invalid value {text!r}: not {what}"
            ) from None

        if not math.isfinite(value):
            bound = "not a finite number"
        elif above and value <= low:
            bound = f"must be above {low:g}"
        elif value < low or value > high:
            if high == math.inf:
                bound = f"must be at least {low:g}"
            else:
                bound = f"must be between {low:g} and {high:g}"
        else:
            return value
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: {bound}")

    parse.__name__ = kind.__name__
    return parse


def default_data_dir() -> str:
    """Return ``$XDG_STATE_HOME/greensup-demo``, or under ``~/.local/state``."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "greensup-demo")


def default_image_data_dir() -> str:
    """Return the default data directory of image mode, beside the simulation's.

    Image jobs name files of an input folder: they are not resumed by the
    simulation, nor simulated jobs by image mode.
    """
    return default_data_dir() + "-images"


def _build_parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="An image-processing job queue supervised by greensup.",
    )
    add = parser.add_argument
    add(
        "--workers",
        type=_number(int, 1),
        default=4,
        metavar="N",
        help="pool size at start (default 4)",
    )
    add(
        "--max-workers",
        type=_number(int, 1),
        default=8,
        metavar="N",
        help="upper bound of the pool (default 8)",
    )
    add(
        "--jobs",
        type=_number(int, 0),
        default=20,
        metavar="N",
        help="jobs submitted at start (default 20)",
    )
    add(
        "--rate",
        type=_number(float, 0),
        default=0.0,
        metavar="R",
        help="further jobs per second from a producer (default 0)",
    )
    add(
        "--max-depth",
        type=_number(int, 1),
        default=100,
        metavar="N",
        help="pending jobs past which submissions are rejected (default 100)",
    )
    add(
        "--failure-rate",
        type=_number(float, 0, 1),
        default=None,
        metavar="F",
        help="share of attempts failing with a transient error "
        "(default 0.2; 0 with --images)",
    )
    add(
        "--crash-rate",
        type=_number(float, 0, 1),
        default=None,
        metavar="F",
        help="share of attempts crashing their worker (default 0.05; 0 with --images)",
    )
    add(
        "--speed",
        type=_number(float, 0, above=True),
        default=1.0,
        metavar="X",
        help="divides every simulated duration and backoff (default 1); "
        "real image work is not scaled",
    )
    add(
        "--seed",
        type=_number(int, -math.inf),
        default=None,
        metavar="N",
        help="seed for reproducible jobs and faults",
    )
    add(
        "--data-dir",
        default=None,
        metavar="DIR",
        help=f"where the durable state lives (default {default_data_dir()})",
    )
    add(
        "--headless",
        action="store_true",
        help="no dashboard: activity lines on stdout (automatic when not a tty)",
    )
    add(
        "--duration",
        type=_number(float, 0, above=True),
        default=None,
        metavar="S",
        help="stop gracefully after S seconds",
    )
    add(
        "--until-idle",
        action="store_true",
        help="stop gracefully once nothing is pending, in flight or retrying",
    )
    add(
        "--summary",
        default=None,
        metavar="PATH",
        help="on exit, write the final counts as JSON to PATH",
    )
    add(
        "--list-dead-letters",
        action="store_true",
        help="print the stored dead letters as JSON lines and exit",
    )
    add(
        "--images",
        default=None,
        metavar="DIR",
        help="image mode: each file of DIR becomes four real image jobs",
    )
    add(
        "--out",
        default=None,
        metavar="DIR",
        help="image mode: where the results go (created if missing)",
    )
    add(
        "--pool",
        choices=POOL_KINDS,
        default="process",
        help="image mode: OS processes or threads do the work (default process)",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> tuple[Options, DemoConfig]:
    """Parse and check the command line; touches no file.

    Returns:
        The options and the :class:`DemoConfig` they describe.

    Raises:
        UsageError: an option or value is invalid.
    """
    options = _build_parser().parse_args(argv, namespace=Options())
    if options.max_workers < options.workers:
        raise UsageError(
            f"argument --max-workers: invalid value {options.max_workers}: "
            f"below --workers {options.workers}"
        )
    if options.data_dir is not None and not options.data_dir.strip():
        raise UsageError("argument --data-dir: invalid value '': empty path")
    image_mode = _check_image_dirs(options)
    default = default_image_data_dir() if image_mode else default_data_dir()
    options.data_dir = os.path.abspath(os.path.expanduser(options.data_dir or default))
    if options.summary is not None:
        _check_summary_path(options.summary)

    # Real work fails for real: simulated faults only when asked for.
    faults = (0.0, 0.0) if image_mode else (0.2, 0.05)
    if options.failure_rate is None:
        options.failure_rate = faults[0]
    if options.crash_rate is None:
        options.crash_rate = faults[1]
    config = DemoConfig(
        workers=options.workers,
        max_workers=options.max_workers,
        jobs=0 if image_mode else options.jobs,
        rate=0.0 if image_mode else options.rate,
        max_depth=options.max_depth,
        failure_rate=options.failure_rate,
        crash_rate=options.crash_rate,
        speed=options.speed,
        seed=options.seed,
        data_dir=options.data_dir,
        images_dir=options.images,
        out_dir=options.out,
        image_pool=options.pool,
    )
    return options, config


def _check_image_dirs(options: Options) -> bool:
    """Check ``--images`` and ``--out``, make their paths absolute; touches nothing.

    Returns whether the run is in image mode.
    """
    if options.images is None and options.out is None:
        return False
    if options.images is None:
        raise UsageError("argument --out: needs --images DIR as well")
    if options.out is None:
        raise UsageError("argument --images: needs --out DIR as well")

    images = os.path.abspath(os.path.expanduser(options.images))
    out = os.path.abspath(os.path.expanduser(options.out))
    if not os.path.isdir(images):
        raise UsageError(f"argument --images: {options.images}: not a directory")
    if not os.access(images, os.R_OK | os.X_OK):
        raise UsageError(f"argument --images: {options.images}: not readable")
    existing = out
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"argument --out: {existing}: not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"argument --out: {existing}: not writable")
    if os.path.realpath(out) == os.path.realpath(images):
        raise UsageError(
            f"argument --out: {options.out}: the same directory as --images"
        )
    options.images, options.out = images, out
    return True


def prepare_out_dir(path: str) -> None:
    """Create the output directory of image mode if it is missing.

    Raises:
        UsageError: it could not be created.
    """
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"argument --out: {path}: {exc.strerror}") from None


def _check_summary_path(path: str) -> None:
    full = os.path.abspath(path)
    parent = os.path.dirname(full)
    if os.path.isdir(full):
        raise UsageError(f"argument --summary: {path}: is a directory")
    if not os.path.isdir(parent):
        raise UsageError(f"argument --summary: {path}: directory does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"argument --summary: {path}: directory not writable")


def prepare_data_dir(path: str) -> None:
    """Check that ``path`` can hold the state, then create it if missing.

    Raises:
        UsageError: ``path`` or an ancestor is not a writable directory, or a
            state file in it is corrupt; nothing was created or changed.
    """
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"argument --data-dir: {existing}: not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"argument --data-dir: {existing}: not writable")
    if existing == path:
        try:
            check_state_files(path)
        except CorruptState as exc:
            raise UsageError(str(exc)) from None

    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"argument --data-dir: {path}: {exc.strerror}") from None


def lock_data_dir(path: str) -> TextIO:
    """Take the data directory's lock file for this run; keep the result open.

    Two runs resuming the same jobs would run each of them twice.

    Raises:
        UsageError: another run holds the lock.
    """
    lock = open(os.path.join(path, LOCK_FILE), "a")  # noqa: SIM115
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise UsageError(
            f"argument --data-dir: {path}: in use by another run of the demo"
        ) from None
    return lock


def _lock_or_close(path: str, state: LocalState) -> TextIO:
    try:
        return lock_data_dir(path)
    except BaseException:
        state.close()
        raise


def list_dead_letters(data_dir: str, out: TextIO) -> None:
    """Print the dead letters in ``data_dir`` as JSON lines; changes nothing.

    Raises:
        UsageError: the dead-letter file is corrupt.
    """
    path = os.path.join(data_dir, DEAD_LETTERS_FILE)
    if not os.path.isfile(path):
        return
    try:
        check_state_files(data_dir)
        jobs = LocalState.read_dead_letters(data_dir)
    except CorruptState as exc:
        raise UsageError(str(exc)) from None
    for job in jobs:
        record = job.to_dict()
        del record["fault_seed"]
        out.write(json.dumps(record) + "\n")


def run_app(
    app: JobQueueApp,
    duration: float | None = None,
    until_idle: bool = False,
    signals: bool = True,
) -> int:
    """Start ``app``, wait for a reason to stop, stop it gracefully.

    Blocks until SIGINT or SIGTERM (with ``signals``), ``duration`` seconds,
    the queue becoming idle (with ``until_idle``), or the root supervisor
    exiting.

    Returns:
        0 after a graceful stop, 1 when the supervision tree died.

    Raises:
        StartError: the application did not start.
    """
    me = greensup.self_pid()
    handlers = []
    deadline: greensup.TimerRef | None = None
    if signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            name = signal.Signals(signum).name
            handlers.append(
                gevent.signal_handler(signum, greensup.send, me, ("stop", name))
            )
    try:
        greensup.start_application(app)
        assert app.root is not None, "the application started without a root"
        root_ref = greensup.monitor(app.root)
        if duration is not None:
            deadline = timer.send_after(duration, me, ("stop", "duration"))
        if until_idle:
            app.notify_idle(me)

        message = greensup.receive(match=lambda m: _is_stop(m, root_ref))
        if isinstance(message, greensup.Down):
            _stop_quietly(app)
            return 1
        greensup.demonitor(root_ref, flush=True)
        greensup.stop_application(app)
        return 0
    finally:
        if deadline is not None:
            timer.cancel(deadline)
        for handler in handlers:
            handler.cancel()


def _is_stop(message: Any, root_ref: greensup.Ref) -> bool:
    if isinstance(message, greensup.Down):
        return message.ref == root_ref
    return isinstance(message, tuple) and message[:1] in (("stop",), ("queue_idle",))


def _stop_quietly(app: JobQueueApp) -> None:
    try:
        greensup.stop_application(app)
    except Exception as exc:  # the tree is gone already: report and go on
        logging.getLogger("demo").error("stopping after the tree died: %r", exc)


def _print_activity(out: TextIO) -> Callable[[Activity], None]:
    def show(activity: Activity) -> None:
        _write_line(out, format_activity(activity))

    return show


def _note(out: TextIO, kind: str, detail: str) -> None:
    activity = Activity(kind, time.time(), time.monotonic(), detail=detail)
    _write_line(out, format_activity(activity))


def _write_line(out: TextIO, line: str) -> None:
    try:
        out.write(line + "\n")
        out.flush()
    except BrokenPipeError:
        # The reader went away (``run.py | head``): the run goes on unheard,
        # rather than crash the collector that prints.
        _silence(out)


def _silence(out: TextIO) -> None:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    except (OSError, ValueError):
        pass  # not a file descriptor: nothing more will reach it anyway


def _configure_logging(data_dir: str) -> None:
    # Crash reports carry tracebacks: they go to a file, not over the activity.
    handler = logging.handlers.RotatingFileHandler(
        os.path.join(data_dir, LOG_FILE), maxBytes=1_000_000, backupCount=1
    )
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    for name in ("greensup", "demo"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _write_summary(path: str, summary: Summary) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(summary.to_dict(), file, indent=2)
        file.write("\n")
    os.replace(temporary, path)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the demo with the command line ``argv``; return the exit status."""
    out = out or sys.stdout
    try:
        options, config = parse_args(argv)
        if options.list_dead_letters:
            try:
                list_dead_letters(config.data_dir or "", out)
                out.flush()
            except BrokenPipeError:
                _silence(out)  # ``--list-dead-letters | head``: enough was read
            return 0
        prepare_data_dir(options.data_dir)
        if options.out is not None:
            prepare_out_dir(options.out)
        state = LocalState(options.data_dir)
        lock = _lock_or_close(options.data_dir, state)
    except (UsageError, CorruptState) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2

    _configure_logging(options.data_dir)
    headless = options.headless or not out.isatty()
    app: JobQueueApp | None = None
    status = 1
    try:
        if not headless:
            try:
                from demo import ui
            except ImportError:
                headless = True
        if headless:
            app = JobQueueApp(config, state=state, on_activity=_print_activity(out))
            _note(out, "starting", _describe(config, state))
            status = run_app(app, options.duration, options.until_idle)
        else:
            app = JobQueueApp(config, state=state)
            status = ui.run_dashboard(app, options.duration, options.until_idle)
    except greensup.StartError as exc:
        print(f"{PROG}: error: the demo did not start: {exc}", file=sys.stderr)
    finally:
        state.close()
        lock.close()

    if app is not None and app.summary is not None:
        if headless:
            _note(out, "stopped", _brief(app.summary))
        if options.summary is not None:
            _write_summary(options.summary, app.summary)
    return status


def _describe(config: DemoConfig, state: LocalState) -> str:
    saved = state.load()
    waiting = len(saved)
    resumed = f", {waiting} unfinished jobs to resume" if waiting else ""
    if config.images_dir is not None and config.out_dir is not None:
        work = ImageWork(Path(config.images_dir), Path(config.out_dir), ImagePool())
        todo, done = work.todo({(s.job.type, s.job.file_name) for s in saved})
        pool = ImagePool(config.image_pool, config.pool_size)
        return (
            f"{config.images_dir} -> {config.out_dir}: {len(todo)} image jobs "
            f"to do, {done} done already{resumed}; {config.workers} workers "
            f"(max {config.max_workers}), {pool.kind} pool of {pool.size}, "
            f"data in {config.data_dir}"
        )
    return (
        f"{config.workers} workers (max {config.max_workers}), {config.jobs} jobs, "
        f"speed {config.speed:g}, data in {config.data_dir}{resumed}"
    )


def _brief(summary: Summary) -> str:
    return (
        f"{summary.completed} completed, {summary.dead_lettered} dead-lettered, "
        f"{summary.pending + summary.retrying} saved for the next run, "
        f"{summary.rejected} rejected, {summary.throughput:.1f} jobs/s, "
        f"max hub stall {summary.max_hub_stall_ms:.0f} ms"
    )


if __name__ == "__main__":
    sys.exit(main())

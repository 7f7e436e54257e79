"""The dashboard's frames: pure functions from a snapshot to lines of text.

Every ``render_*`` function takes a :class:`~demo.ui_text.Palette` (the
terminal's styles, or none), the data to show and the space it may use, and
returns finished lines, each exactly as wide as asked: text is cut with an
ellipsis, never wrapped. Nothing here reads the clock, the keyboard or the
engine, so a frame is fully determined by its :class:`View` and can be tested
from a fixed snapshot. The panels live in :mod:`demo.ui_panels`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import greensup
from demo.app import DemoSnapshot
from demo.snapshots import Counts, CrashInfo, QueueSnapshot, WorkerView
from demo.stats import StatsSnapshot
from demo.ui_panels import (
    render_activity,
    render_crashes,
    render_retries,
    render_tree,
    short_reason,
)
from demo.ui_text import Palette, bar, first_fitting

__all__ = [
    "MIN_HEIGHT",
    "MIN_WIDTH",
    "WIDE",
    "View",
    "render_drain",
    "render_footer",
    "render_frame",
    "render_header",
    "render_queue",
    "render_stats",
    "render_workers",
]

TITLE = "Ambitious Job Queue"
#: Below this size the frame only says that the terminal is too small.
MIN_WIDTH, MIN_HEIGHT = 40, 10
#: From this width on, the tree, retries and crashes get a column of their own.
WIDE = 120


@dataclass(frozen=True)
class View:
    """What one frame shows.

    Attributes:
        snapshot: the engine's latest snapshot, None before the first one.
        tree: the supervision tree under the root supervisor, if known.
        phase: ``'running'`` or ``'stopping'`` (a graceful stop is under way).
        message: feedback on the last key pressed, empty if none.
        drain_seconds: how long the drain may last, for its countdown bar.
        stale: the engine did not answer this frame: the snapshot is older.
        fresh: ids of the root's children restarted a moment ago.
    """

    snapshot: DemoSnapshot | None
    tree: greensup.TreeNode | None = None
    phase: str = "running"
    message: str = ""
    drain_seconds: float = 0.0
    stale: bool = False
    fresh: frozenset[str] = frozenset()


@dataclass
class _Section:
    title: str
    lines: list[str]
    min_rows: int
    want_rows: int
    more: bool = True  # end a cut section with "… N more"


# -- the frame ----------------------------------------------------------------


def render_frame(pal: Palette, view: View, width: int, height: int) -> list[str]:
    """Return the whole frame: ``height`` lines of ``width`` cells.

    The last line is one cell shorter, so that writing it never scrolls.
    """
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        return _render_too_small(pal, view, width, height)

    inner = width - 4
    rows = [
        "╔" + "═" * (width - 2) + "╗",
        *_boxed(render_header(pal, view, inner)),
        "╠" + "═" * (width - 2) + "╣",
    ]
    snapshot = view.snapshot
    if snapshot is None:
        rows += _boxed([pal.fit(pal("muted", "starting the application…"), inner)])
    else:
        rows += _boxed([render_queue(pal, snapshot.queue.counts, inner)])
        rows += _boxed(render_drain(pal, view, inner))

    body = height - len(rows) - 2
    if snapshot is not None and body > 0:
        rows += _boxed(_render_body(pal, view, snapshot, inner, body))
    rows += _boxed([" " * inner] * (height - len(rows) - 2))
    rows.append("╚" + "═" * (width - 2) + "╝")
    rows.append(render_footer(pal, view, width - 1))
    return rows


def _boxed(lines: Sequence[str]) -> list[str]:
    return [f"║ {line} ║" for line in lines]


def _render_too_small(pal: Palette, view: View, width: int, height: int) -> list[str]:
    lines = [
        f"terminal {width}x{height} too small",
        f"(needs {MIN_WIDTH}x{MIN_HEIGHT})",
    ]
    if view.snapshot is not None:
        counts = view.snapshot.queue.counts
        lines.append(f"{counts.pending} pending, {counts.completed} completed")
    lines.append("q quits")
    lines = lines[:height] + [""] * (height - len(lines))
    return [pal.fit(line, width) for line in lines[:-1]] + [
        pal.fit(lines[-1], width - 1)
    ]


def _render_body(
    pal: Palette, view: View, snapshot: DemoSnapshot, inner: int, height: int
) -> list[str]:
    queue = snapshot.queue
    if inner + 4 < WIDE:
        column = [
            _workers_section(pal, queue, inner, view.phase),
            _Section("Stats", render_stats(pal, snapshot, inner), 2, 2),
            _tree_section(pal, view, inner, wide=False),
            _activity_section(pal, snapshot.stats, inner, height),
        ]
        return _layout(pal, column, inner, height)

    right = min(50, inner // 3)
    left = inner - right - 3
    left_column = [
        _workers_section(pal, queue, left, view.phase),
        _Section("Stats", render_stats(pal, snapshot, left), 2, 2),
        _activity_section(pal, snapshot.stats, left, height),
    ]
    retries = render_retries(pal, queue.retries, snapshot.retry_timers, right)
    crashes = render_crashes(pal, queue.last_crashes, right)
    right_column = [
        _tree_section(pal, view, right, wide=True),
        _Section(f"Retries ({len(queue.retries)})", retries, 1, len(retries)),
        _Section("Last crash per worker", crashes, 1, len(crashes)),
    ]
    lefts = _layout(pal, left_column, left, height)
    rights = _layout(pal, right_column, right, height)
    return [f"{a} {pal('muted', '│')} {b}" for a, b in zip(lefts, rights, strict=True)]


def _layout(
    pal: Palette, sections: list[_Section], width: int, height: int
) -> list[str]:
    """Share ``height`` rows among ``sections``, in order of importance.

    Each shown section takes a rule with its title plus its rows; a section
    that gets fewer rows than it has lines ends with a "… N more" line. The
    last section takes whatever is left.
    """
    rows = [min(s.min_rows, len(s.lines)) for s in sections]
    shown = [True] * len(sections)
    while sum(rows) + sum(shown) > height and any(shown):
        last = max(i for i, on in enumerate(shown) if on)
        if rows[last] > 1:
            rows[last] -= 1
        else:
            rows[last], shown[last] = 0, False

    spare = height - sum(rows) - sum(shown)
    for i, section in enumerate(sections):
        if shown[i]:
            extra = max(0, min(spare, section.want_rows - rows[i]))
            rows[i] += extra
            spare -= extra
    if shown[-1] and spare > 0:
        extra = min(spare, len(sections[-1].lines) - rows[-1])
        rows[-1] += extra
        spare -= extra

    out: list[str] = []
    for section, count, on in zip(sections, rows, shown, strict=True):
        if on:
            out.append(_rule(pal, section.title, width))
            out += _cut(pal, section.lines, count, width, section.more)
    return out + [" " * width] * (height - len(out))


def _rule(pal: Palette, title: str, width: int) -> str:
    head = "─ " + pal("section", title) + " "
    return pal.fit(head + "─" * max(0, width - pal.width(head)), width)


def _cut(
    pal: Palette, lines: list[str], count: int, width: int, more: bool
) -> list[str]:
    if len(lines) <= count or count < 2 or not more:
        return lines[:count]
    rest = pal.fit(pal("muted", f"  … {len(lines) - count + 1} more"), width)
    return lines[: count - 1] + [rest]


# -- header, queue line, drain view, footer -----------------------------------


def render_header(pal: Palette, view: View, width: int) -> list[str]:
    """Return the title line: name, state and the quit key."""
    title = pal("title", TITLE)
    if view.phase == "stopping":
        state = pal("badge", " STOPPING ")
    elif view.stale:
        state = pal("warn", "(engine not answering)")
    else:
        state = pal("muted", "· greensup supervision demo")
    keys = "[q] quit"

    left = f"{title} {state}"
    if pal.width(left) + len(keys) >= width and not view.stale:
        left = title if view.phase == "running" else left
    gap = max(1, width - pal.width(left) - len(keys))
    return [pal.fit(left + " " * gap + keys, width)]


def render_queue(pal: Palette, counts: Counts, width: int) -> str:
    """Return the queue line: where the jobs are, the longest form that fits."""
    c = counts
    dead = pal("dead", str(c.dead_lettered)) if c.dead_lettered else "0"
    rejected = pal("reject", str(c.rejected)) if c.rejected else "0"
    retrying = pal("warn", str(c.retrying)) if c.retrying else "0"
    pending = pal("info", str(c.pending))
    flight = pal("busy", str(c.in_flight))
    done = pal("ok", str(c.completed))
    letters = "dead letter" if c.dead_lettered == 1 else "dead letters"
    forms = [
        [
            f"Queue: {pending} pending",
            f"{flight} in flight",
            f"{retrying} retrying",
            f"{done} completed",
            f"{dead} {letters}",
            f"{rejected} rejected",
        ],
        [
            f"Queue: {pending} pending",
            f"{flight} in flight",
            f"{done} completed",
            f"{dead} {letters}",
            f"{rejected} rejected",
        ],
        [
            f"{pending} pending",
            f"{flight} in flight",
            f"{done} done",
            f"{dead} DLQ",
            f"{rejected} rejected",
        ],
    ]
    return first_fitting(pal, forms, width)


def render_drain(pal: Palette, view: View, width: int) -> list[str]:
    """Return the drain view's line while stopping: deadline and jobs in flight."""
    snapshot = view.snapshot
    if snapshot is None or view.phase == "running" and not snapshot.queue.draining:
        return []
    queue = snapshot.queue
    saved = queue.counts.pending + queue.counts.retrying
    keep = f"{saved} waiting jobs kept for the next run"

    if not queue.draining:
        text = pal("warn", "⧗ stopping: asking the queue to drain…")
    elif queue.drain_deadline_in is not None and queue.counts.in_flight:
        left = queue.drain_deadline_in
        total = max(view.drain_seconds, left, 1e-9)
        urgent = "crash" if left < total / 4 else "warn"
        gauge = pal(urgent, bar(left / total, 10))
        count = queue.counts.in_flight
        jobs = pal("busy", f"{count} in-flight job{'s' if count > 1 else ''}")
        text = (
            pal("warn", "⧗ draining ")
            + f"{jobs}: deadline in {pal(urgent, f'{left:.1f}s')} [{gauge}]"
            + f" · intake stopped · {keep}"
        )
    else:
        text = pal("ok", "■ drained: nothing in flight, stopping the tree")
        text += f" · {keep}"
    return [pal.fit(text, width)]


def render_footer(pal: Palette, view: View, width: int) -> str:
    """Return the line under the box: the other keys and the last key's result.

    The keys shrink to make room for the message.
    """
    message = view.message and "  " + pal("title", view.message)
    for keys in (
        " [+] add 10 jobs  [=] add worker  [-] remove worker",
        " [+]10 jobs [=]+worker [-]-worker",
    ):
        if pal.width(keys + message) <= width:
            break
    return pal.fit(keys + message, width)


# -- workers ------------------------------------------------------------------


def _workers_section(
    pal: Palette, queue: QueueSnapshot, width: int, phase: str
) -> _Section:
    lines = render_workers(pal, queue.workers, width)
    busy = sum(1 for w in queue.workers if w.job_id is not None)
    title = f"Workers {len(queue.workers)}/{queue.max_workers}"
    title += f" · {busy} busy · target {queue.target_workers}"
    if any(w.last_crash for w in queue.workers):
        title += " · ✘ last crash"
    if phase != "running" or queue.draining:
        title += " · finishing in-flight jobs"
    return _Section(title, lines, 3, len(lines))


def render_workers(
    pal: Palette, workers: Sequence[WorkerView], width: int
) -> list[str]:
    """Return one line per worker: progress, job, elapsed time, last crash."""
    if not workers:
        return [pal.fit(pal("muted", "  no workers"), width)]
    cells = 20 if width >= 100 else 10
    return [pal.fit(_worker_line(pal, w, cells, width), width) for w in workers]


def _worker_line(pal: Palette, worker: WorkerView, cells: int, width: int) -> str:
    slot = f"#{worker.slot:<2}"
    if worker.job_id is None:
        line = f"{slot} " + pal("muted", "[idle]".ljust(cells + 2))
        line += " " + pal("muted", "waiting for a job")
    else:
        meaning = "warn" if worker.attempt > 1 else "ok"
        progress = pal(meaning, bar(worker.progress, cells))
        line = f"{slot} [{progress}] {worker.job_type:<9} {worker.file_name:<14}"
        line += f" {worker.elapsed:5.1f}s"
        if worker.attempt > 1:
            line += pal("warn", f" try {worker.attempt}")
    if worker.retiring:
        line += pal("warn", " retiring")

    crash = worker.last_crash
    room = width - pal.width(line) - 3
    if crash is not None and room >= 12:
        line += "  " + pal("crash", _crash_text(crash))
    return line


def _crash_text(crash: CrashInfo) -> str:
    clock = time.strftime("%H:%M:%S", time.localtime(crash.at))
    return f"✘ {clock} {short_reason(crash.reason)}"


# -- statistics, retries, crashes ---------------------------------------------


def render_stats(pal: Palette, snapshot: DemoSnapshot, width: int) -> list[str]:
    """Return throughput, latency and errors, then retries and dead letters."""
    stats: StatsSnapshot = snapshot.stats
    counts = snapshot.queue.counts
    # The queue's counts survive a restart of the statistics collector.
    failures = counts.failed + counts.crashed
    errors = pal("warn", str(failures)) if failures else "0"
    stall = f"{stats.hub_stall_ms:.0f} ms (max {stats.max_hub_stall_ms:.0f})"
    first = first_fitting(
        pal,
        [
            [
                f"Throughput: {stats.throughput:.1f} jobs/s",
                f"Avg: {stats.avg_ms:.0f} ms",
                f"Errors: {errors} ({counts.failed} failed, {counts.crashed} crashed)",
                f"Hub stall: {stall}",
            ],
            [
                f"Throughput: {stats.throughput:.1f} jobs/s",
                f"Avg: {stats.avg_ms:.0f} ms",
                f"Errors: {errors}",
                f"Hub stall: max {stats.max_hub_stall_ms:.0f} ms",
            ],
            [
                f"{stats.throughput:.1f} jobs/s",
                f"avg {stats.avg_ms:.0f} ms",
                f"{errors} errors",
                f"stall {stats.max_hub_stall_ms:.0f} ms",
            ],
            [
                f"{stats.throughput:.1f} jobs/s",
                f"avg {stats.avg_ms:.0f} ms",
                f"{errors} errors",
            ],
        ],
        width,
    )

    retries = snapshot.queue.retries
    pending = f"Retries: {pal('warn', str(len(retries)))} pending"
    dead = pal("dead", str(counts.dead_lettered))
    total = snapshot.dead_letters_total
    long_dead = f"Dead letters: {dead} this run, {total} stored"
    short_dead = f"Dead letters: {dead} ({total} stored)"
    countdowns = [f"{r.file_name} in {r.due_in:.1f}s" for r in retries[:4]]
    forms = []
    for shown in range(len(countdowns), 0, -1):
        more = ", …" if shown < len(retries) else ""
        upcoming = f"{pending} ({', '.join(countdowns[:shown])}{more})"
        forms += [[upcoming, long_dead], [upcoming, short_dead]]
    forms += [[pending, long_dead], [pending, short_dead]]
    return [first, first_fitting(pal, forms, width)]


# -- the supervision tree -----------------------------------------------------


def _tree_section(pal: Palette, view: View, width: int, wide: bool) -> _Section:
    assert view.snapshot is not None, "a tree section without a snapshot"
    lines = render_tree(pal, view.tree, view.snapshot.queue, width, wide, view.fresh)
    title = "Supervision tree" if wide else "Supervision tree · restarts"
    return _Section(title, lines, 1, len(lines))


# -- recent activity ----------------------------------------------------------


def _activity_section(
    pal: Palette, stats: StatsSnapshot, width: int, limit: int
) -> _Section:
    lines = render_activity(pal, stats.recent, width, limit)
    return _Section("Recent activity", lines, 2, 8, more=False)

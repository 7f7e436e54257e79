"""The dashboard's frames: pure functions from a snapshot to lines of text.

Every ``render_*`` function takes a :class:`Palette` (the terminal's styles,
or none), the data to show and the space it may use, and returns finished
lines, each exactly as wide as asked: text is cut with an ellipsis, never
wrapped. Nothing here reads the clock, the keyboard or the engine, so a frame
is fully determined by its :class:`View` and can be tested from a fixed
snapshot.
"""

from __future__ import annotations

import functools
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from blessed import Terminal

import greensup
from demo.app import DemoSnapshot
from demo.queue import Counts, CrashInfo, QueueSnapshot, RetryView, WorkerView
from demo.retry import RetryTimer
from demo.stats import Activity, StatsSnapshot

__all__ = [
    "MIN_HEIGHT",
    "MIN_WIDTH",
    "SYMBOLS",
    "WIDE",
    "Palette",
    "View",
    "render_activity",
    "render_frame",
    "render_header",
    "render_queue",
    "render_tree",
    "render_workers",
]

TITLE = "Ambitious Job Queue"
#: Below this size the frame only says that the terminal is too small.
MIN_WIDTH, MIN_HEIGHT = 40, 10
#: From this width on, the tree, retries and crashes get a column of their own.
WIDE = 120

#: The activity log's symbol for each kind of event.
SYMBOLS = {
    "completed": "✓",
    "failed": "✗",
    "crashed": "✘",
    "dead_lettered": "☠",
    "rejected": "⊘",
    "requeued": "↻",
    "queued": "+",
    "resumed": "↺",
    "worker_added": "⇡",
    "worker_removed": "⇣",
    "draining": "⧗",
    "drained": "⧗",
}

# What each style means; a terminal without colour shows the bare text.
_STYLES = {
    "ok": "green",
    "warn": "yellow",
    "crash": "bold_red",
    "dead": "magenta",
    "reject": "red",
    "info": "cyan",
    "busy": "blue",
    "muted": "dim",
    "title": "bold",
    "section": "bold_cyan",
    "badge": "black_on_yellow",
    "stopped": "white_on_red",
}

_KIND_STYLE = {
    "completed": "ok",
    "failed": "warn",
    "crashed": "crash",
    "dead_lettered": "dead",
    "rejected": "reject",
    "requeued": "info",
    "queued": "muted",
    "resumed": "info",
    "worker_added": "info",
    "draining": "warn",
    "drained": "warn",
}


# Escape sequences (CSI, character set, two-byte) and control characters:
# what a terminal shows as nothing.
_INVISIBLE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b.|[\x00-\x1f\x7f]"
)


class Palette:
    """Styles by meaning, and text measured and cut as the terminal shows it.

    Args:
        term: the terminal the frame is for.
        colour: use colour and bold; False leaves the text plain (for
            ``NO_COLOR`` or a terminal without colours).
    """

    def __init__(self, term: Terminal, colour: bool = True) -> None:
        self.term = term
        self.colour = colour and term.does_styling and term.number_of_colors > 0

    def __call__(self, meaning: str, text: str) -> str:
        """Return ``text`` in the style for ``meaning`` (plain without colour)."""
        if not self.colour or not text:
            return text
        return getattr(self.term, _STYLES[meaning])(text)

    def width(self, text: str) -> int:
        """Return the cells ``text`` takes, escape sequences excluded."""
        plain = _INVISIBLE.sub("", text)
        cells = len(plain)
        if not plain.isascii():
            for char in set(plain):
                if char > "\x7f":
                    cells += (_cells(char) - 1) * plain.count(char)
        return cells

    def fit(self, text: str, width: int) -> str:
        """Cut ``text`` (with an ellipsis) or pad it to exactly ``width`` cells."""
        if width <= 0:
            return ""
        length = self.width(text)
        if length <= width:
            return text + " " * (width - length)

        cut, used = _truncate(text, width - 1)
        end = self.term.normal if self.colour else ""
        return cut + end + "…" + " " * (width - 1 - used)


@functools.cache
def _cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def _truncate(text: str, width: int) -> tuple[str, int]:
    """Return the start of ``text`` that fits in ``width`` cells, and its width.

    Escape sequences are kept whole, so the styles stay well formed.
    """
    out: list[str] = []
    used = 0
    position = 0
    for match in [*_INVISIBLE.finditer(text), None]:
        end = match.start() if match is not None else len(text)
        for char in text[position:end]:
            cells = _cells(char)
            if used + cells > width:
                return "".join(out), used
            out.append(char)
            used += cells
        if match is not None:
            out.append(match.group())
            position = match.end()
    return "".join(out), used


@dataclass(frozen=True)
class View:
    """What one frame shows.

    Attributes:
        snapshot: the engine's latest snapshot, None before the first one.
        tree: the supervision tree under the root supervisor, if known.
        phase: ``'running'``, ``'stopping'`` (a graceful stop is under way)
            or ``'stopped'``.
        message: feedback on the last key pressed, empty if none.
        drain_seconds: how long the drain may last, for its countdown bar.
        stale: the engine did not answer this frame: the snapshot is older.
    """

    snapshot: DemoSnapshot | None
    tree: greensup.TreeNode | None = None
    phase: str = "running"
    message: str = ""
    drain_seconds: float = 0.0
    stale: bool = False


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
            _tree_section(pal, view.tree, queue, inner, wide=False),
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
        _tree_section(pal, view.tree, queue, right, wide=True),
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
    elif view.phase == "stopped":
        state = pal("stopped", " STOPPED ")
    elif view.stale:
        state = pal("warn", "(engine not answering)")
    else:
        state = pal("muted", "· greensup supervision demo")
    keys = "[q] quit"

    left = f"{title} {state}"
    gap = width - pal.width(left) - len(keys)
    if gap < 1:
        left = f"{title} {state}" if view.phase != "running" else title
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
    forms = [
        [
            f"Queue: {pending} pending",
            f"{flight} in flight",
            f"{retrying} retrying",
            f"{done} completed",
            f"{dead} dead letters",
            f"{rejected} rejected",
        ],
        [
            f"Queue: {pending} pending",
            f"{flight} in flight",
            f"{done} completed",
            f"{dead} dead letters",
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
    return _first_fitting(pal, forms, width)


def _first_fitting(pal: Palette, forms: list[list[str]], width: int) -> str:
    sep = pal("muted", " │ ")
    for parts in forms:
        line = sep.join(parts)
        if pal.width(line) <= width:
            return pal.fit(line, width)
    return pal.fit(sep.join(forms[-1]), width)


def render_drain(pal: Palette, view: View, width: int) -> list[str]:
    """Return the drain view's line while stopping: deadline and jobs in flight."""
    snapshot = view.snapshot
    if snapshot is None or view.phase == "running" and not snapshot.queue.draining:
        return []
    queue = snapshot.queue
    saved = queue.counts.pending + queue.counts.retrying
    keep = f"{saved} waiting jobs kept for the next run"

    if view.phase == "stopped":
        text = pal("muted", f"■ stopped: {keep}")
    elif not queue.draining:
        text = pal("warn", "⧗ stopping: asking the queue to drain…")
    elif queue.drain_deadline_in is not None and queue.counts.in_flight:
        left = queue.drain_deadline_in
        total = max(view.drain_seconds, left, 1e-9)
        urgent = "crash" if left < total / 4 else "warn"
        bar = pal(urgent, _bar(left / total, 10))
        count = queue.counts.in_flight
        jobs = pal("busy", f"{count} in-flight job{'s' if count > 1 else ''}")
        text = (
            pal("warn", "⧗ draining ")
            + f"{jobs}: deadline in {pal(urgent, f'{left:.1f}s')} [{bar}]"
            + f" · intake stopped · {keep}"
        )
    else:
        text = pal("ok", "■ drained: nothing in flight, stopping the tree")
        text += f" · {keep}"
    return [pal.fit(text, width)]


def render_footer(pal: Palette, view: View, width: int) -> str:
    """Return the line under the box: the other keys and the last key's result."""
    keys = "[+] add 10 jobs  [=] add worker  [-] remove worker"
    if width < len(keys) + 20:
        keys = "[+]10 jobs [=]+worker [-]-worker"
    message = view.message and "  " + pal("title", view.message)
    return pal.fit(" " + keys + message, width)


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
        bar = pal(meaning, _bar(worker.progress, cells))
        line = f"{slot} [{bar}] {worker.job_type:<9} {worker.file_name:<14}"
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
    return f"✘ {clock} {_short_reason(crash.reason)}"


def _short_reason(reason: str) -> str:
    # 'crash: WorkerCrash: out of memory ...' reads better as its message.
    text = reason.removeprefix("crash: ")
    name, sep, rest = text.partition(": ")
    if sep and name.isidentifier():
        return rest
    return text


def _bar(fraction: float, cells: int) -> str:
    full = round(max(0.0, min(1.0, fraction)) * cells)
    return "█" * full + "░" * (cells - full)


# -- statistics, retries, crashes ---------------------------------------------


def render_stats(pal: Palette, snapshot: DemoSnapshot, width: int) -> list[str]:
    """Return throughput, latency and errors, then retries and dead letters."""
    stats: StatsSnapshot = snapshot.stats
    counts = snapshot.queue.counts
    errors = pal("warn", str(stats.errors)) if stats.errors else "0"
    first = _first_fitting(
        pal,
        [
            [
                f"Throughput: {stats.throughput:.1f} jobs/s",
                f"Avg: {stats.avg_ms:.0f} ms",
                f"Errors: {errors} ({counts.failed} failed, {counts.crashed} crashed)",
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
    return [first, _first_fitting(pal, forms, width)]


def render_retries(
    pal: Palette,
    retries: Sequence[RetryView],
    timers: Sequence[RetryTimer],
    width: int,
) -> list[str]:
    """Return one countdown per job waiting to retry, soonest first."""
    if not retries:
        return [pal.fit(pal("muted", "  none waiting"), width)]
    delays = {t.job_id: t.delay for t in timers}
    lines = []
    for retry in retries:
        delay = max(delays.get(retry.job_id, retry.due_in), retry.due_in, 1e-9)
        bar = pal("warn", _bar(retry.due_in / delay, 6))
        text = f"{retry.file_name} retry {retry.retry}/3 in {retry.due_in:4.1f}s"
        lines.append(pal.fit(f"[{bar}] {text}", width))
    return lines


def render_crashes(
    pal: Palette, crashes: Sequence[tuple[int, CrashInfo]], width: int
) -> list[str]:
    """Return each worker slot's last crash: when, which job, why."""
    if not crashes:
        return [pal.fit(pal("muted", "  none yet"), width)]
    lines = []
    for slot, crash in crashes:
        clock = time.strftime("%H:%M:%S", time.localtime(crash.at))
        job = f" {crash.file_name}" if crash.file_name else ""
        text = f"#{slot} {clock}{job}: {_short_reason(crash.reason)}"
        lines.append(pal.fit(pal("crash", "✘ ") + text, width))
    return lines


# -- the supervision tree -----------------------------------------------------


def _tree_section(
    pal: Palette,
    tree: greensup.TreeNode | None,
    queue: QueueSnapshot,
    width: int,
    wide: bool,
) -> _Section:
    lines = render_tree(pal, tree, queue, width, wide)
    title = "Supervision tree" if wide else "Supervision tree · restarts"
    return _Section(title, lines, 1, len(lines))


def render_tree(
    pal: Palette,
    tree: greensup.TreeNode | None,
    queue: QueueSnapshot,
    width: int,
    wide: bool = True,
) -> list[str]:
    """Return the supervision tree with each child's restart count.

    ``wide`` draws one line per process; otherwise the root's children flow
    along as few lines as fit.
    """
    if tree is None:
        return [pal.fit(pal("muted", "  not available"), width)]
    slots = {w.pid: w.slot for w in queue.workers}
    if wide:
        root = f"{tree.id} " + pal("muted", f"{tree.pid!r} one_for_one")
        lines = [root]
        for i, child in enumerate(tree.children):
            last = i == len(tree.children) - 1
            lines.append(("└─ " if last else "├─ ") + _node_text(pal, child))
            lines += _grandchildren(pal, child, slots, "   " if last else "│  ")
        return [pal.fit(line, width) for line in lines]

    items = [_node_text(pal, child, compact=True) for child in tree.children]
    return _flow(pal, items, width)


def _node_text(pal: Palette, node: greensup.TreeNode, compact: bool = False) -> str:
    name = str(node.id)
    if node.pid is None:
        return f"{name} " + pal("crash", "not running")
    restarts = pal("warn", str(node.restarts)) if node.restarts else "0"
    if compact:
        extra = f" ({len(node.children)} workers)" if node.children else ""
        return f"{name}{extra} {restarts}"
    noun = "restart" if node.restarts == 1 else "restarts"
    return f"{name} {restarts} {noun} " + pal("muted", repr(node.pid))


def _grandchildren(
    pal: Palette,
    node: greensup.TreeNode,
    slots: dict[greensup.Pid, int],
    indent: str,
) -> list[str]:
    lines = []
    for i, child in enumerate(node.children):
        branch = "└─ " if i == len(node.children) - 1 else "├─ "
        slot = slots.get(child.pid) if child.pid is not None else None
        label = f"worker #{slot}" if slot is not None else str(child.id)
        lines.append(f"{indent}{branch}{label} " + pal("muted", repr(child.pid)))
    return lines


def _flow(pal: Palette, items: list[str], width: int) -> list[str]:
    sep = pal("muted", " · ")
    lines: list[str] = []
    current = ""
    for item in items:
        candidate = f"{current}{sep}{item}" if current else item
        if current and pal.width(candidate) > width:
            lines.append(current)
            candidate = item
        current = candidate
    lines.append(current)
    return [pal.fit(line, width) for line in lines]


# -- recent activity ----------------------------------------------------------


def _activity_section(
    pal: Palette, stats: StatsSnapshot, width: int, limit: int
) -> _Section:
    lines = render_activity(pal, stats.recent, width, limit)
    return _Section("Recent activity", lines, 2, 8, more=False)


def render_activity(
    pal: Palette, recent: Sequence[Activity], width: int, limit: int = 50
) -> list[str]:
    """Return the recent activity, newest first, at most ``limit`` lines.

    A run of jobs queued or rejected together reads as one line; a single
    job arriving (as from the producer) is not worth a line.
    """
    groups = [
        group for group in _group(recent) if len(group) > 1 or group[0].kind != "queued"
    ]
    lines = []
    for group in reversed(groups[-limit:]):
        first = group[-1]
        clock = time.strftime("%H:%M:%S", time.localtime(first.at))
        symbol = SYMBOLS.get(first.kind, "·")
        meaning = _activity_style(first)
        text = _describe(group) if len(group) > 1 else _describe_one(first)
        lines.append(pal.fit(f"{clock} {pal(meaning, symbol)} {text}", width))
    if not lines:
        lines.append(pal.fit(pal("muted", "  nothing yet"), width))
    return lines


def _group(recent: Sequence[Activity]) -> list[list[Activity]]:
    groups: list[list[Activity]] = []
    for activity in recent:
        if (
            groups
            and activity.kind in ("queued", "rejected")
            and groups[-1][-1].kind == activity.kind
        ):
            groups[-1].append(activity)
        else:
            groups.append([activity])
    return groups


def _activity_style(activity: Activity) -> str:
    if activity.kind == "worker_removed":
        normal = "(normal)" in activity.detail or "(shutdown" in activity.detail
        return "muted" if normal else "crash"
    return _KIND_STYLE.get(activity.kind, "muted")


def _describe(group: list[Activity]) -> str:
    first, last = group[0], group[-1]
    span = f"{first.file_name} … {last.file_name}"
    if first.kind == "queued":
        return f"{len(group)} jobs queued ({span})"
    return f"{len(group)} jobs rejected ({span}): {last.detail}"


def _describe_one(a: Activity) -> str:
    error, _, outcome = a.detail.rpartition("; ")
    error = _short_reason(error)
    match a.kind:
        case "completed":
            again = f", attempt {a.attempt}" if a.attempt > 1 else ""
            return f"{a.file_name} {a.detail or 'done'} ({a.elapsed or 0:.1f}s{again})"
        case "failed":
            return f"{a.file_name} {a.job_type} failed, {outcome}: {error}"
        case "crashed":
            return f"{a.file_name} crashed its worker, {outcome}: {error}"
        case "dead_lettered":
            return f"{a.file_name} → dead letter {a.detail}"
        case "rejected":
            return f"{a.file_name} rejected: {a.detail}"
        case "queued":
            return f"{a.file_name} {a.job_type} queued"
        case "requeued":
            return f"{a.file_name} back in the queue: {a.detail}"
        case "resumed":
            return f"{a.file_name} resumed from the last run"
        case "worker_added":
            return f"{a.detail} started"
        case "worker_removed":
            head, _, why = a.detail.partition(" (")
            return f"{head} stopped ({_short_reason(why)}"
        case "draining":
            return f"draining: {a.detail}"
        case "drained":
            return f"drained: {a.detail}"
    return f"{a.kind} {a.file_name} {a.detail}".strip()

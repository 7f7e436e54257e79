"""The dashboard's panels: supervision tree, retries, crashes, recent activity.

Pure functions, like the rest of the frame (see :mod:`demo.ui_render`): each
takes a :class:`~demo.ui_text.Palette`, part of a snapshot and a width, and
returns lines exactly that wide.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import greensup
from demo.job import MAX_RETRIES
from demo.retry import RetryTimer
from demo.snapshots import CrashInfo, QueueSnapshot, RetryView
from demo.stats import Activity
from demo.ui_text import Palette, bar, flow

__all__ = [
    "SYMBOLS",
    "render_activity",
    "render_crashes",
    "render_retries",
    "render_tree",
    "short_reason",
]

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


def short_reason(reason: str) -> str:
    """Return an exit reason or error without its exception name.

    ``'crash: WorkerCrash: out of memory'`` reads better as its message.
    """
    text = reason.removeprefix("crash: ")
    name, sep, rest = text.partition(": ")
    if sep and name.isidentifier():
        return rest
    return text


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
        countdown = pal("warn", bar(retry.due_in / delay, 6))
        text = f"{retry.file_name} retry {retry.retry}/{MAX_RETRIES}"
        text += f" in {retry.due_in:4.1f}s"
        lines.append(pal.fit(f"[{countdown}] {text}", width))
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
        text = f"#{slot} {clock}{job}: {short_reason(crash.reason)}"
        lines.append(pal.fit(pal("crash", "✘ ") + text, width))
    return lines


def render_tree(
    pal: Palette,
    tree: greensup.TreeNode | None,
    queue: QueueSnapshot,
    width: int,
    wide: bool = True,
    fresh: frozenset[str] = frozenset(),
) -> list[str]:
    """Return the supervision tree with each child's restart count.

    ``wide`` draws one line per process; otherwise the root's children flow
    along as few lines as fit. The children in ``fresh`` were just restarted
    and say so.
    """
    if tree is None:
        return [pal.fit(pal("muted", "  not available"), width)]
    slots = {w.pid: w.slot for w in queue.workers}
    if wide:
        root = f"{tree.id} " + pal("muted", f"{tree.pid!r} one_for_one")
        lines = [root]
        for i, child in enumerate(tree.children):
            last = i == len(tree.children) - 1
            text = _node_text(pal, child, str(child.id) in fresh)
            lines.append(("└─ " if last else "├─ ") + text)
            lines += _grandchildren(pal, child, slots, "   " if last else "│  ")
        return [pal.fit(line, width) for line in lines]

    items = [
        _node_text(pal, child, str(child.id) in fresh, compact=True)
        for child in tree.children
    ]
    return flow(pal, items, width)


def _node_text(
    pal: Palette, node: greensup.TreeNode, fresh: bool, compact: bool = False
) -> str:
    name = str(node.id)
    if node.pid is None:
        return f"{name} " + pal("crash", "not running")
    restarts = pal("warn", str(node.restarts)) if node.restarts else "0"
    if compact:
        extra = f" ({len(node.children)} workers)" if node.children else ""
        just = pal("crash", " ↻ just restarted") if fresh else ""
        return f"{name}{extra} {restarts}{just}"
    noun = "restart" if node.restarts == 1 else "restarts"
    just = pal("crash", " ↻ just now") if fresh else ""
    return f"{name} {restarts} {noun}{just} " + pal("muted", repr(node.pid))


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


def render_activity(
    pal: Palette, recent: Sequence[Activity], width: int, limit: int = 50
) -> list[str]:
    """Return the recent activity, newest first, at most ``limit`` lines.

    A run of jobs queued or rejected together reads as one line; a single
    job arriving (as from the producer) is not worth a line.
    """
    groups = [
        group
        for group in _group(recent)
        if len(group) > 1 or group[0].kind != "queued" or group[0].job_id is None
    ]
    lines = []
    for group in reversed(groups[-limit:]):
        newest = group[-1]
        clock = time.strftime("%H:%M:%S", time.localtime(newest.at))
        symbol = SYMBOLS.get(newest.kind, "·")
        meaning = _activity_style(newest)
        text = _describe(group) if len(group) > 1 else _describe_one(newest)
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
            and activity.job_id is not None
            and groups[-1][-1].kind == activity.kind
            and groups[-1][-1].job_id is not None
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
    if a.job_id is None and a.kind in ("queued", "resumed"):
        return f"{a.kind} {a.detail}"  # many jobs at once, summed up
    error, _, outcome = a.detail.rpartition("; ")
    why = f": {short_reason(error)}" if error else ""
    match a.kind:
        case "completed":
            again = f", attempt {a.attempt}" if a.attempt > 1 else ""
            return f"{a.file_name} {a.detail or 'done'} ({a.elapsed or 0:.1f}s{again})"
        case "failed":
            return f"{a.file_name} {a.job_type} failed, {outcome}{why}"
        case "crashed":
            return f"{a.file_name} crashed its worker, {outcome}{why}"
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
            return f"{head} stopped ({short_reason(why)}"
        case "draining":
            return f"draining: {a.detail}"
        case "drained":
            return f"drained: {a.detail}"
    return f"{a.kind} {a.file_name} {a.detail}".strip()

"""Turn the cells' answers into the table, the machine line, the chart and the docs.

Figures are shown as the median of the rounds with the min-max spread, followed by
their ratio to raw gevent's figure for the same workload (always this system's
figure divided by raw gevent's, so above 1 means faster for a rate and bigger or
slower for memory and latency).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "LABELS",
    "Row",
    "Table",
    "machine_line",
    "render_markdown",
    "write_chart",
    "write_docs",
]

#: Column titles of the systems.
LABELS = {
    "greensup": "greensup",
    "gevent": "raw gevent",
    "pykka": "pykka 2 (gevent)",
    "thespian": "thespian (simple)",
    "triotp": "triotp",
}
PEERS = ("pykka", "thespian", "triotp")
_PACKAGES = ("greensup", "gevent", "greenlet", "pykka", "thespian", "triotp", "trio")


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure of a workload, with greensup's target."""

    workload: str
    metric: str
    title: str
    unit: str
    higher_is_better: bool = True
    ratio_target: float | None = None
    absolute_target: float | None = None


@dataclass
class Table:
    """Every answer of every cell, by workload and system, in the order received."""

    systems: tuple[str, ...]
    sizes: dict[str, int]
    answers: dict[tuple[str, str], list[dict[str, object]]] = field(
        default_factory=dict
    )

    def add(self, workload: str, system: str, answer: dict[str, object]) -> None:
        """Record one round's answer for ``workload`` on ``system``."""
        self.answers.setdefault((workload, system), []).append(answer)

    def samples(self, row: Row, system: str) -> list[float]:
        """Return the figures measured for ``row`` on ``system``, one per round."""
        found = []
        for answer in self.answers.get((row.workload, system), []):
            figures = answer.get("figures")
            if isinstance(figures, dict) and row.metric in figures:
                found.append(float(figures[row.metric]))
        return found

    def median(self, row: Row, system: str) -> float | None:
        """Return the median figure for ``row`` on ``system``, or None."""
        samples = self.samples(row, system)
        return statistics.median(samples) if samples else None

    def failure(self, row: Row, system: str) -> str:
        """Return why ``system`` has no figure for ``row``."""
        for answer in self.answers.get((row.workload, system), []):
            if "unsupported" in answer:
                return str(answer["unsupported"])
            if "error" in answer:
                return f"error: {answer['error']}"
        return "not run"


def machine_line() -> str:
    """Describe the machine, Python and every package's version in one line."""
    versions = []
    for package in _PACKAGES:
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    load = os.getloadavg()[0]
    return (
        f"machine: {os.cpu_count()} CPUs ({_cpu_model()}), {platform.system()} "
        f"{platform.machine()}, load average {load:.1f} at start, "
        f"Python {platform.python_version()}; " + ", ".join(versions)
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def format_figure(value: float, unit: str) -> str:
    """Format ``value`` for a cell: three significant digits, k and M for rates."""
    if unit == "bytes":
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.3g}"
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


def _cell(table: Table, row: Row, system: str, baseline: float | None) -> str:
    samples = table.samples(row, system)
    if not samples:
        return table.failure(row, system)

    middle = statistics.median(samples)
    text = format_figure(middle, row.unit)
    if len(samples) > 1:
        low = format_figure(min(samples), row.unit)
        high = format_figure(max(samples), row.unit)
        text += f" ({low}–{high})"
    if system != "gevent" and baseline:
        text += f" · {middle / baseline:.2f}x"
    return text


def _target(table: Table, row: Row) -> str:
    value = table.median(row, "greensup")
    baseline = table.median(row, "gevent")
    if row.ratio_target is not None:
        sign = "≥" if row.higher_is_better else "≤"
        goal = f"{sign} {row.ratio_target:g}x"
        if value is None or not baseline:
            return goal
        met = _meets(value / baseline, row.ratio_target, row.higher_is_better)
    elif row.absolute_target is not None:
        sign = "≥" if row.higher_is_better else "<"
        goal = f"{sign} {format_figure(row.absolute_target, row.unit)} {row.unit}"
        if value is None:
            return goal
        met = _meets(value, row.absolute_target, row.higher_is_better)
    else:
        return ""
    return f"{goal}: {'met' if met else 'below'}"


def _meets(value: float, target: float, higher_is_better: bool) -> bool:
    return value >= target if higher_is_better else value < target


def advantage(table: Table, row: Row) -> tuple[float, str] | None:
    """Return greensup's advantage over the best peer (above 1 is ahead), or None."""
    value = table.median(row, "greensup")
    peers = [(table.median(row, p), p) for p in PEERS if p in table.systems]
    peers = [(v, p) for v, p in peers if v]
    if not value or not peers:
        return None
    if row.higher_is_better:
        best, name = max(peers)
        return value / best, name
    best, name = min(peers)
    return best / value, name


def render_markdown(table: Table, rows: list[Row], repeat: int) -> str:
    """Render the table as Markdown, one line per row of figures."""
    systems = table.systems
    with_peers = any(p in systems for p in PEERS)
    header = ["workload", "unit"] + [LABELS[s] for s in systems]
    header += ["greensup target"] + (["greensup vs best peer"] if with_peers else [])
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in rows:
        baseline = table.median(row, "gevent")
        cells = [row.title, row.unit]
        cells += [_cell(table, row, s, baseline) for s in systems]
        cells.append(_target(table, row))
        ahead = advantage(table, row)
        if with_peers:
            cells.append(f"{ahead[0]:.2f}x ({ahead[1]})" if ahead else "")
        lines.append("| " + " | ".join(cells) + " |")

    lines.append("")
    lines.append(
        f"Median of {repeat} round(s) (min–max); · Nx is the ratio to raw gevent "
        "(this system's figure divided by raw gevent's). Best peer: above 1x means "
        "greensup is ahead. Sizes: "
        + ", ".join(f"{w} {n:,}" for w, n in table.sizes.items())
        + "."
    )
    return "\n".join(lines)


def _relative(table: Table, row: Row, system: str) -> float | None:
    """Return ``system``'s figure relative to raw gevent, higher being better."""
    value = table.median(row, system)
    baseline = table.median(row, "gevent")
    if not value or not baseline:
        return None
    return value / baseline if row.higher_is_better else baseline / value


def write_chart(table: Table, rows: list[Row], path: Path) -> None:
    """Draw each system's figures relative to raw gevent as grouped bars."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("matplotlib is not installed: no chart written")
        return

    rows = [r for r in rows if _relative(table, r, "gevent") is not None]
    systems = [s for s in table.systems if s != "gevent"]
    figure, axes = plt.subplots(figsize=(10, 0.8 * len(rows) + 2.4))
    height = 0.8 / max(1, len(systems))
    for index, system in enumerate(systems):
        for position, row in enumerate(rows):
            value = _relative(table, row, system)
            if value:
                _draw_bar(axes, position + index * height, value, height, system)
    _draw_targets(axes, rows)

    axes.axvline(1.0, color="black", linewidth=1)
    axes.set_xscale("log")
    ticks = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}x")
    axes.xaxis.set_major_formatter(ticks)
    axes.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))])
    axes.set_yticklabels([row.title for row in rows])
    axes.invert_yaxis()
    axes.set_xlabel(
        "relative to raw gevent (1 = raw gevent, higher is better): rates are "
        "system / gevent,\nlatency and memory are gevent / system"
    )
    axes.set_title("greensup and its Python peers against raw gevent")
    handles, labels = axes.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes.legend(
        unique.values(), unique.keys(), loc="upper center", fontsize="small",
        bbox_to_anchor=(0.5, -0.1), ncol=len(unique),
    )  # fmt: skip
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


_COLOURS = {
    "greensup": "tab:blue",
    "pykka": "tab:orange",
    "thespian": "tab:green",
    "triotp": "tab:red",
}


def _draw_bar(
    axes: Any, position: float, value: float, height: float, system: str
) -> None:
    axes.barh(
        [position], [value], height=height, color=_COLOURS.get(system, "tab:gray"),
        label=LABELS[system],
    )  # fmt: skip
    axes.annotate(
        f"{value:.2g}x", (value, position), xytext=(3, 0),
        textcoords="offset points", va="center", fontsize="x-small",
    )  # fmt: skip


def _draw_targets(axes: Any, rows: list[Row]) -> None:
    """Mark greensup's ratio targets on its bars (greensup is the first bar)."""
    for index, row in enumerate(rows):
        if row.ratio_target is None:
            continue
        target = row.ratio_target if row.higher_is_better else 1 / row.ratio_target
        axes.plot(
            [target], [index], marker="|", markersize=14, color="red",
            label="greensup target" if index == 0 else None,
        )  # fmt: skip


_DOC_INTRO = Path(__file__).with_name("docs_intro.md")


def write_docs(
    path: Path, machine: str, markdown: str, store: str | None, repeat: int
) -> None:
    """Write the latest table, the chart and the Store figures to ``path``."""
    parts = [
        _DOC_INTRO.read_text(encoding="utf-8"),
        "## Latest results\n",
        f"`{machine}`\n",
        markdown,
        "\n![greensup and its peers relative to raw gevent](benchmarks.png)\n",
    ]
    if store:
        parts += ["## Store\n", "```text\n" + store + "\n```\n"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")

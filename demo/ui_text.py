"""Text for the dashboard: styles by meaning, and styled text cut to size.

A :class:`Palette` turns a meaning (``ok``, ``crash``, ``muted``...) into the
terminal's style, or into nothing on a terminal without colour, and measures,
cuts and pads text that holds escape sequences, in terminal cells, so that
every line of a frame is exactly as wide as asked and never wraps.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from blessed import Terminal

__all__ = ["Palette", "bar", "first_fitting", "flow"]

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


def first_fitting(pal: Palette, forms: list[list[str]], width: int) -> str:
    """Return the first of ``forms`` (parts joined by bars) that fits ``width``.

    The last form is cut to fit when none does.
    """
    sep = pal("muted", " │ ")
    for parts in forms:
        line = sep.join(parts)
        if pal.width(line) <= width:
            return pal.fit(line, width)
    return pal.fit(sep.join(forms[-1]), width)


def bar(fraction: float, cells: int) -> str:
    """Return a bar of ``cells`` cells, filled to ``fraction`` (0 to 1)."""
    full = round(max(0.0, min(1.0, fraction)) * cells)
    return "█" * full + "░" * (cells - full)


def flow(pal: Palette, items: list[str], width: int) -> list[str]:
    """Return ``items`` separated by dots, on as few lines of ``width`` as fit."""
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

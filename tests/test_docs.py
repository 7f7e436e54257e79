"""The documentation: every code example runs, its shown output is what it prints,
and the Sphinx build, warnings as errors, documents every public name.

Each page's ```python blocks run in order, in one namespace, in a fresh OS
process started in an empty directory, as a reader following the page would run
them. A ```text block right after a ``% output`` comment line is the output the
block before it prints: it is compared with ``...`` matching any text, as in
doctest's ELLIPSIS; what the block writes to stderr (log lines) counts, as a
terminal would show it. A block after a ``% skip: why`` line is not run.
"""

from __future__ import annotations

import doctest
import json
import os
import re
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import greensup
from greensup import timer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Pages other people own, or with no examples of their own to run.
NOT_RUN = {"benchmarks.md"}
MARK = "\x1e-- greensup docs block {} --\x1e"

_FENCE = re.compile(r"^(`{3,})([^`\s]*)[^`]*$")


@dataclass
class Block:
    """One ```python example, with the output the page shows for it, if any."""

    line: int
    code: str
    output: str | None = None
    output_line: int = 0


@dataclass
class Page:
    path: Path
    blocks: list[Block] = field(default_factory=list)


def parse(path: Path) -> Page:
    """Return the runnable examples of a Markdown page, in order."""
    page = Page(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    marker = None
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            stripped = lines[index].strip()
            if stripped.startswith("%"):
                marker = stripped[1:].strip().split(":")[0]
            elif stripped:
                marker = None
            index += 1
            continue

        fence, lang = match.groups()
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != fence:
            end += 1
        body = "\n".join(lines[index + 1 : end]) + "\n"
        if lang == "python" and marker != "skip":
            page.blocks.append(Block(index + 2, body))
        elif lang == "text" and marker == "output":
            assert page.blocks, f"{path.name}:{index + 1}: output before any example"
            page.blocks[-1].output = body
            page.blocks[-1].output_line = index + 2
        marker = None
        index = end + 1
    return page


_DRIVER = """\
import json, sys
blocks = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__main__"}
for number, (name, line, code) in enumerate(blocks):
    print(MARK.format(number), flush=True)
    exec(compile("\\n" * (line - 1) + code, name, "exec"), namespace)
    sys.stdout.flush()
"""


def run_page(page: Page, tmp_path: Path) -> list[str]:
    """Run the page's blocks in a fresh OS process; return each block's stdout."""
    relative = str(page.path.relative_to(ROOT))
    blocks = [(relative, b.line, b.code) for b in page.blocks]
    blocks_file = tmp_path / "blocks.json"
    blocks_file.write_text(json.dumps(blocks), encoding="utf-8")
    driver = tmp_path / "driver.py"
    driver.write_text(f"MARK = {MARK!r}\n" + _DRIVER, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    # Unbuffered, with stderr merged: the order a reader sees in a terminal.
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")

    done = subprocess.run(
        [sys.executable, str(driver), str(blocks_file)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=90,
    )

    assert done.returncode == 0, (
        f"{relative} failed with status {done.returncode}\n{done.stdout}"
    )
    parts = re.split(re.escape(MARK).replace(r"\{\}", r"\d+") + "\n", done.stdout)
    return parts[1:]


PAGES = sorted(p for p in DOCS.glob("*.md") if p.name not in NOT_RUN)


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_docs_page_examples_run_and_print_what_the_page_shows(
    path: Path, tmp_path: Path
) -> None:
    page = parse(path)

    outputs = run_page(page, tmp_path) if page.blocks else []

    assert len(outputs) == len(page.blocks)
    checker = doctest.OutputChecker()
    for block, got in zip(page.blocks, outputs, strict=True):
        if block.output is None:
            continue
        want = block.output
        if not checker.check_output(want, got, doctest.ELLIPSIS):
            where = f"{path.name}:{block.output_line}"
            pytest.fail(
                f"{where}: the output shown is not what the example at line "
                f"{block.line} prints\n--- shown\n{want}--- printed\n{got}"
            )


def test_docs_parser_finds_examples_and_their_output(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Intro.\n\n```python\nprint(1)\n```\n\n% output\n```text\n1\n```\n\n"
        "% skip: needs a terminal\n```python\nraise SystemExit(3)\n```\n\n"
        "```text\nnot output\n```\n",
        encoding="utf-8",
    )

    parsed = parse(page)

    assert [(b.line, b.code, b.output) for b in parsed.blocks] == [
        (4, "print(1)\n", "1\n")
    ]


@pytest.fixture(scope="module")
def built_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the docs once with Sphinx, warnings as errors."""
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    out = tmp_path_factory.mktemp("html")
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
        + [str(DOCS), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, f"sphinx build failed:\n{done.stderr}"
    return out


def test_docs_build_without_warnings(built_html: Path) -> None:
    assert (built_html / "index.html").exists()


def _inventory_names(path: Path) -> set[str]:
    """Return the object names in a Sphinx ``objects.inv`` (format version 2)."""
    raw = path.read_bytes()
    header_end = 0
    for _ in range(4):
        header_end = raw.index(b"\n", header_end) + 1
    text = zlib.decompress(raw[header_end:]).decode("utf-8")
    return {line.split(" ", 1)[0] for line in text.splitlines() if line}


def test_docs_api_reference_documents_every_public_name(built_html: Path) -> None:
    documented = _inventory_names(built_html / "objects.inv")

    missing = [
        name
        for name in greensup.__all__
        if f"greensup.{name}" not in documented
        and f"greensup.timer.{name}" not in documented
    ]
    missing += [
        f"timer.{name}"
        for name in timer.__all__
        if f"greensup.timer.{name}" not in documented
    ]
    assert not missing, f"public names with no reference entry: {missing}"

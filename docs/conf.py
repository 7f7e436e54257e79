"""Sphinx configuration for the greensup documentation."""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.abspath(".."))

OPTIONAL_PAGES = ["benchmarks"]

project = "greensup"
author = "the greensup authors"
copyright = "2026, the greensup authors"
release = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "README.md"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = ["Limitations", "Differences from OTP"]

html_theme = "alabaster"
html_title = "greensup"
html_static_path: list[str] = []


def _drop_missing_pages(app: Any, docname: str, source: list[str]) -> None:
    """Leave out of the index a page that is not written yet (the benchmarks
    page comes with the benchmarks), rather than fail the build over it."""
    if docname != "index":
        return
    for page in OPTIONAL_PAGES:
        if not os.path.exists(os.path.join(app.srcdir, page + ".md")):
            source[0] = source[0].replace(f"\n{page}\n", "\n")


def setup(app: Any) -> None:
    app.connect("source-read", _drop_missing_pages)

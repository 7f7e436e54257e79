"""The job-queue demo: an image-processing queue built on greensup's public API.

The modules mirror the supervision tree: :mod:`demo.app` builds it,
:mod:`demo.queue`, :mod:`demo.worker`, :mod:`demo.retry`, :mod:`demo.dead_letter`
and :mod:`demo.stats` are its processes, :mod:`demo.job` simulates the work,
:mod:`demo.state` keeps the durable state and :mod:`demo.run` is the command line.
"""

from __future__ import annotations

__all__: list[str] = []

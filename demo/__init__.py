"""The job-queue demo: an image-processing queue built on greensup's public API.

The modules mirror the supervision tree: :mod:`demo.app` builds it,
:mod:`demo.queue` (with its :mod:`demo.pool` of workers), :mod:`demo.worker`
(under :mod:`demo.worker_supervisor`), :mod:`demo.retry`,
:mod:`demo.dead_letter` and :mod:`demo.stats` are its processes,
:mod:`demo.snapshots` what they report, :mod:`demo.job` simulates
the work, :mod:`demo.images` does it for real and :mod:`demo.image_pool` runs
that off the hub, :mod:`demo.state` keeps the durable state,
:mod:`demo.config` the settings, and :mod:`demo.run` is the command line.
"""

from __future__ import annotations

__all__: list[str] = []

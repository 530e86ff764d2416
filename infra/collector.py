"""Fewer runs of CPython's cyclic garbage collector in the ledger's processes.

A bulk job holds hundreds of thousands of long-lived objects (a large project's lots, the
aggregate cache) and allocates millions of short-lived ones (commands, events, rows), which
reference counting frees. With CPython's default thresholds (700, 10, 10) the collector ran
10,776 young and 41 full collections in an import of 300,000 commands here, each full one
walking every long-lived object, and found 774 objects in cycles in all: 62.3-64.0 s of CPU
for the import, 45.7-48.7 s with the thresholds of infra/limits.py, the same peak memory.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from infra.limits import collector_thresholds


def collect_less_often() -> None:
    """Set this process's collector thresholds; cycles are still collected, only less often."""
    gc.set_threshold(*collector_thresholds)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector runs again after it as it ran before.

    For the import's deciding process, whose long-lived objects (a project's lots, the caches)
    the young collections walked once and again as they aged: 3.5 s of a full-size import's
    68-76 s of CPU there, timed by gc.callbacks. A full collection after that import found 60
    objects in cycles, and the peak memory was the same, 720 MiB (docs/PERFORMANCE.md, change
    106). For a process that does nothing else meanwhile: the CLI's import, not a server.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            # What the block left alive goes to the permanent generation first: the collector
            # counted every allocation while paused, so its next run would be a young collection
            # walking each object the block made and kept (full size: 0.79 s at the end of an
            # import, between its last batch and its followers' end). Cycles among those
            # objects are no longer collected; a process runs this block once, then exits.
            gc.freeze()
            gc.enable()

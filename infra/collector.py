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

from infra.limits import collector_thresholds


def collect_less_often() -> None:
    """Set this process's collector thresholds; cycles are still collected, only less often."""
    gc.set_threshold(*collector_thresholds)

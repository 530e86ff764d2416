"""The importing process keeps a core to itself; its side processes share the others.

An import's deciding process is what it waits for. Its side processes (the two followers and
the line reader) are busy on the machine's other core, the followers at a lower priority; even
so, on two cores the deciding process waited 4.6-8.3 s of a 48-57 s full-size SQLite import
for a core (/proc's run delay), where the kernel had put a side process on the core it had
just left. Kept off one core, the side processes no longer take it from it (docs/PERFORMANCE.md,
change 98). When the deciding process is done, they get every core back for what is left.

Only where the system lets a process choose its cores (Linux), and only with two or more.
"""

from __future__ import annotations

import os

import structlog

log = structlog.get_logger()


def side_cores() -> set[int] | None:
    """The cores this process lets its side processes use: all of its own but the first; None if it has one."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    own = os.sched_getaffinity(0)
    if len(own) < 2:
        return None
    return own - {min(own)}


def move_aside(pid: int) -> None:
    """Keep process `pid` off the core this process keeps (see side_cores)."""
    cores = side_cores()
    if cores is not None:
        _set_cores(pid, cores)


def give_back(pid: int) -> None:
    """Let process `pid` use every core this process may use again."""
    if hasattr(os, "sched_getaffinity"):
        _set_cores(pid, os.sched_getaffinity(0))


def _set_cores(pid: int, cores: set[int]) -> None:
    try:
        os.sched_setaffinity(pid, cores)
    except OSError as error:
        # Gone already, or not ours to move: it runs where the kernel puts it.
        log.warning("process_cores_unchanged", error=type(error).__name__)

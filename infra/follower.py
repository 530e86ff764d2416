"""Two processes that bring the transparency log and the read models up to date while an import records.

The import decides and records on one core; the followers share the other, one applying the
events to the transparency log, the other to the report tables (on SQLite a page at a time in
SQL, infra/catch_up_sql.py), so when the import returns its leaves are logged and its reports
are ready. They are only a faster way to do what any later
catch-up would do: each part has its own tracking position, which keeps every event applied
once, and if a follower dies, the next catch-up does its work.

One follower used to do both parts in turn. It applied events more slowly than the import
recorded them, so at full size the import waited for it at the end: up to 28 s on SQLite and
75 s on PostgreSQL, where its time went in waiting for the server. With a process per part,
each part's statements run beside the other's (docs/PERFORMANCE.md, change 78). Both run at a lower
priority than the import, which waits for its deciding process alone (change 93), and off
the core that process keeps until it is done (infra/cores.py, change 98).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.synchronize import Event
from typing import Final

import structlog

from infra.collector import collect_less_often
from infra.cores import give_back, move_aside
from infra.database import TRACKING_TABLES, Part, SQLiteDatabase
from infra.limits import (
    follower_index_sort_run_kib,
    follower_index_sort_threads,
    follower_join_seconds_max,
    follower_niceness,
    follower_page_max,
    follower_poll_seconds_max,
    follower_sqlite_cache_kib,
    report_follower_page_max,
)
from infra.logging import bind_correlation_id, configure_logging

log = structlog.get_logger()

PARTS: Final[tuple[Part, ...]] = tuple(sorted(TRACKING_TABLES))


def follow(url: str, done: Event, part: Part) -> None:
    """Catch `part` up in small pages until `done` is set and nothing is left, or the importing process is gone."""
    from infra.store import open_stores

    configure_logging()
    collect_less_often()
    bind_correlation_id(f"follower-{part}")
    parent = multiprocessing.parent_process()
    stores = open_stores(url)
    unindexed = False
    if isinstance(stores.database, SQLiteDatabase):
        stores.database.set_cache_kib(follower_sqlite_cache_kib)
        if part == "reports":
            # Not the log's: its leaves are what verify checks the events against, kept as
            # they were written (docs/OPERATIONS.md), so they wait for the disk as the events do.
            stores.database.sync_at_checkpoints()
    if part == "reports":
        # A first load of the report tables goes in without their secondary indexes, on
        # either store (changes 97 and 108).
        unindexed = stores.read_model.set_indexes_aside_if_empty()
    catch_up = stores.catch_up_log if part == "log" else stores.catch_up_reports_in_sql
    page_max = follower_page_max if part == "log" else report_follower_page_max
    try:
        while True:
            finishing = done.is_set()
            moved = catch_up(page_max=page_max)
            if finishing and not moved:
                break
            if parent is not None and not parent.is_alive():
                log.warning("follower_orphaned", part=part)
                break
            if not moved:
                time.sleep(follower_poll_seconds_max)
        if unindexed:
            if isinstance(stores.database, SQLiteDatabase):
                # In runs, on more than one core (change 124): the importing process is done deciding.
                stores.database.sort_in_runs(follower_index_sort_run_kib, follower_index_sort_threads)
            # Locking the reports' file alone: the importing process records its snapshots meanwhile
            # (full size: they waited 2.4 s for these indexes when every file was locked).
            stores.read_model.create_tables(locking="reports")
            log.info("report_indexes_built")
    finally:
        stores.close()


def _lower_priority(process: multiprocessing.process.BaseProcess) -> None:
    """Run a follower `follower_niceness` below this process, so that the import keeps its core.

    Set from here, right after the start, so that it holds before the block runs; a follower
    that could not be lowered (a system without priorities) runs at this process's own.
    """
    if process.pid is None:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, process.pid, os.getpriority(os.PRIO_PROCESS, 0) + follower_niceness)
    except (AttributeError, OSError) as error:
        log.warning("follower_priority_unchanged", process=process.name, error=type(error).__name__)


@contextmanager
def following(url: str, enabled: bool) -> Iterator[Callable[[], None]]:
    """Run the followers for the duration of the block (when enabled); wait for them to finish at the end.

    The block is given a function that tells the followers every event is recorded: they finish
    their work (the last pages, the report tables' indexes) while the block does what is left
    of its own, such as the import's snapshots (change 101), and may use every core for it
    (change 124). The block's end tells them too.
    """
    if not enabled:
        yield lambda: None
        return
    context = multiprocessing.get_context("spawn")
    done = context.Event()
    processes = [
        context.Process(target=follow, args=(url, done, part), name=f"fundtrail-follower-{part}", daemon=True)
        for part in PARTS
    ]
    # Into PostgreSQL, the server's processes do most of the work: with this and change 97 a
    # full-size import took 68.2 and 60.2 s, against 62.4 and 60.7 s without.
    keep_a_core = url.startswith("sqlite:")
    for process in processes:
        process.start()
        _lower_priority(process)
        if keep_a_core and process.pid is not None:
            move_aside(process.pid)

    def every_event_recorded() -> None:
        done.set()
        # The deciding is done: what the followers have left (on SQLite, the report tables'
        # indexes, sorted on two threads) may use its core too, beside the block's own last work.
        for process in processes:
            if process.pid is not None and process.is_alive():
                give_back(process.pid)

    try:
        yield every_event_recorded
    finally:
        if not done.is_set():  # the block ended without saying so (it failed, say)
            every_event_recorded()
        deadline = time.monotonic() + follower_join_seconds_max
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("follower_stopped_late", process=process.name)
                process.terminate()
                process.join()

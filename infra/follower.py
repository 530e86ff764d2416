"""A second process that brings the transparency log and the read models up to date while an import records.

The import decides and records on one core; this follower uses the other, so when the
import returns its leaves are logged and its reports are ready. It is only a faster way to
do what any later catch-up would do: the tracking positions keep every event applied once,
and if the follower dies, the next catch-up does its work.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.synchronize import Event

import structlog

from infra.collector import collect_less_often
from infra.limits import follower_join_seconds_max, follower_page_max, follower_poll_seconds_max
from infra.logging import bind_correlation_id, configure_logging

log = structlog.get_logger()


def follow(url: str, done: Event) -> None:
    """Catch up in small pages until `done` is set and nothing is left, or the importing process is gone."""
    from infra.store import open_stores

    configure_logging()
    collect_less_often()
    bind_correlation_id("follower")
    parent = multiprocessing.parent_process()
    stores = open_stores(url)
    try:
        while True:
            finishing = done.is_set()
            moved = stores.catch_up(page_max=follower_page_max)
            if finishing and not moved:
                break
            if parent is not None and not parent.is_alive():
                log.warning("follower_orphaned")
                break
            if not moved:
                time.sleep(follower_poll_seconds_max)
    finally:
        stores.close()


@contextmanager
def following(url: str, enabled: bool) -> Iterator[None]:
    """Run the follower for the duration of the block (when enabled); wait for it to finish at the end."""
    if not enabled:
        yield
        return
    context = multiprocessing.get_context("spawn")
    done = context.Event()
    process = context.Process(target=follow, args=(url, done), name="fundtrail-follower", daemon=True)
    process.start()
    try:
        yield
    finally:
        done.set()
        process.join(timeout=follower_join_seconds_max)
        if process.is_alive():
            log.warning("follower_stopped_late")
            process.terminate()
            process.join()

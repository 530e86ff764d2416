"""A full rebuild on both cores: a second process reads and decodes the events, this one writes the rows.

Reading, decoding and turning events into facts is about as much work as writing the rows,
so the two run side by side, a page apart. The reader sends each page's facts (as tuples,
which pickle and bind cheaper than dictionaries) with the position they reach; this process
writes them exactly as a catch-up would (the tracking position moves with each page). If the
reader fails, whatever it did not deliver is read here: the final catch-up starts from the
tracking position, so nothing is applied twice.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import structlog
from eventsourcing.persistence import Notification

from infra.database import Database
from infra.limits import parallel_replay_events_min, replay_pages_ahead_max
from infra.read_model import ReadModel, pack_facts
from infra.store import Stores, open_read_only, stored_notifications
from projections.facts import Fact
from services.read_side import catch_up, rebuild

log = structlog.get_logger()


def rebuild_in_parallel(
    stores: Stores, target: ReadModel, events_min: int = parallel_replay_events_min, reader_url: str | None = None
) -> int:
    """rebuild(), with the events read and decoded by a second process; returns how many events were applied."""
    if (stores.application.recorder.max_notification_id() or 0) < events_min:
        return rebuild(stores.application, target, select=stores.select_notifications)
    target.reset()
    context = multiprocessing.get_context("spawn")
    pages: Any = context.Queue(maxsize=replay_pages_ahead_max)
    reader = context.Process(
        target=read_facts, args=(reader_url or stores.url, pages), name="fundtrail-replay-reader", daemon=True
    )
    reader.start()
    try:
        finished = _write_pages(pages, reader, target)
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()
    if not finished:
        log.warning("replay_reader_failed", exitcode=reader.exitcode)
    catch_up(stores.application, target, select=stores.select_notifications)
    return target.tracked()[1]


def _write_pages(pages: Any, reader: multiprocessing.process.BaseProcess, target: ReadModel) -> bool:
    """Write each page the reader sends; True when it said it was done, False when it died first."""
    while True:
        try:
            page = pages.get(timeout=0.5)
        except queue.Empty:
            if reader.is_alive():
                continue
            return False
        if page is None:
            return True
        packed, position, events = page
        target.write_packed(packed, position, events)


class _Row(NamedTuple):
    """A stored event as the reports' projection reads it; cheaper to make than the library's Notification."""

    id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


def _rows(database: Database, start: int, limit: int) -> Sequence[Notification]:
    """stored_notifications, as plain named tuples: the reader makes millions of them."""
    if database.dialect != "sqlite":
        return stored_notifications(database, start, limit)
    rows = database.tuples(
        "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
        "WHERE rowid >= :start ORDER BY rowid LIMIT :limit",
        {"start": start, "limit": limit},
    )
    # The projection reads only id, topic and state (and hands the row to the library's mapper
    # for an upcast event, which reads the rest as it is).
    return cast(Sequence[Notification], list(map(_Row._make, rows)))


class _PageSender:
    """The reader's side: a FactSink that sends each page instead of writing it."""

    def __init__(self, pages: Any) -> None:
        self.pages = pages
        self.position, self.events = 0, 0

    def tracked(self) -> tuple[int, int]:
        return self.position, self.events

    def write(self, facts: list[Fact], position: int, events: int) -> None:
        self.pages.put((pack_facts(facts), position, events))
        self.position, self.events = position, events

    def reset(self) -> None:
        self.position, self.events = 0, 0


def read_facts(url: str, pages: Any) -> None:
    """In the reader process: every event's facts, page by page, then None."""
    from infra.collector import collect_less_often
    from infra.logging import bind_correlation_id, configure_logging
    from services.ledger import LedgerApplication

    configure_logging()
    collect_less_often()
    bind_correlation_id("replay-reader")
    read_model = open_read_only(url)
    # Only its mapper is used (to decode events), so it needs no store of its own.
    application = LedgerApplication()
    try:
        catch_up(
            application,
            _PageSender(pages),
            select=lambda start, limit: _rows(read_model.database, start, limit),
        )
        pages.put(None)
    finally:
        read_model.database.close()

"""`verify` on both cores: a second process recomputes the leaves while this one replays the allocations.

The two halves of a verification are about as much work each (a leaf is an event's canonical
JSON and its hash; an allocation check decodes the event and applies it to its project), and
neither needs the other until the end. Both read the same events: those stored when the
verification began (positions up to `until`), compared with the leaves logged before that.
If the second process fails, this one recomputes the leaves itself.
"""

from __future__ import annotations

import multiprocessing
import pickle
import tempfile
from collections.abc import Sequence
from pathlib import Path

import structlog
from eventsourcing.persistence import Notification

from infra.database import Database
from infra.ledger_log_store import LedgerLogStore
from infra.limits import parallel_verify_events_min
from infra.store import Stores, open_read_only, stored_notifications
from services.read_side import SelectNotifications
from services.trust import LeafCheck, NoteOpener, Verification, check_leaves, stored_events, verify_history

log = structlog.get_logger()


def verify_in_parallel(
    stores: Stores, open_note: NoteOpener, events_min: int = parallel_verify_events_min, leaf_url: str | None = None
) -> Verification:
    """verify_history on the stores, the leaves recomputed by a second process (reading `leaf_url`, or the store's)."""
    # The log first, then the events: every logged leaf is then of an event at or below `until`.
    logged = stores.log.leaf_count()
    until = stores.application.recorder.max_notification_id() or 0
    if until < events_min:
        return verify_history(stores.application, stores.log, open_note, select=stores.select_notifications)
    select = _up_to(stores.select_notifications, until)
    with tempfile.TemporaryDirectory(prefix="fundtrail-verify-") as folder:
        path = Path(folder) / "leaves"
        context = multiprocessing.get_context("spawn")
        child = context.Process(
            target=write_leaf_check,
            args=(leaf_url or stores.url, until, logged, str(path)),
            name="fundtrail-verify-leaves",
        )
        child.start()

        def leaves() -> LeafCheck:
            child.join()
            if child.exitcode == 0:
                with path.open("rb") as file:
                    check: LeafCheck = pickle.load(file)  # noqa: S301 - written by our own child, just now
                return check
            log.warning("verify_helper_failed", exitcode=child.exitcode)
            return check_leaves(stored_events(stores.application, select), stores.log.leaf_hashes()[:logged])

        try:
            return verify_history(stores.application, stores.log, open_note, select=select, leaves=leaves)
        finally:
            if child.is_alive():
                child.terminate()
            child.join()


def _up_to(select: SelectNotifications, until: int) -> SelectNotifications:
    """`select`, stopping at position `until` (a short page ends the reading)."""

    def bounded(start: int, limit: int) -> Sequence[Notification]:
        return [notification for notification in select(start, limit) if notification.id <= until]

    return bounded


def write_leaf_check(url: str, until: int, logged: int, path: str) -> None:
    """In the second process: the leaf check of the events up to `until` against the first `logged` leaves."""
    from infra.collector import collect_less_often
    from infra.logging import bind_correlation_id, configure_logging
    from services.ledger import LedgerApplication

    configure_logging()
    collect_less_often()
    bind_correlation_id("verify-leaves")
    database: Database = open_read_only(url).database
    try:
        # Only the page reader is used; the application is there for stored_events' signature.
        application = LedgerApplication()
        select = _up_to(lambda start, limit: stored_notifications(database, start, limit), until)
        check = check_leaves(stored_events(application, select), LedgerLogStore(database).leaf_hashes()[:logged])
        with open(path, "wb") as file:
            pickle.dump(check, file, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        database.close()

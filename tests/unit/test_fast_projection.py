"""The projection read from stored state gives exactly the rows of the one built from event objects."""

from __future__ import annotations

from uuid import uuid4

import orjson
from eventsourcing.persistence import Notification

from infra.bench.generator import commands
from projections.facts import facts_for
from services.read_side import report_facts
from tests.ledger_fixtures import LedgerUnderTest, at


def test_rows_from_stored_state_equal_rows_from_event_objects() -> None:
    books = LedgerUnderTest()
    outcomes = books.ledger.execute_batch(list(commands(0.0005, seed=7)))
    assert sum(outcome.status == "applied" for outcome in outcomes) > 150
    books.send(
        type="request_disbursement",
        disbursement_id="X1",
        project_id="P0000",
        payee_id="H000",
        amount="1.00",
        purpose="药费",
        requested_by="caseworker",
        requested_at=at(28),
    )
    books.send(
        type="reject_disbursement", disbursement_id="X1", rejected_by="treasurer", reason="重复", rejected_at=at(28)
    )
    books.send(type="close_project", project_id="P0001", closed_at=at(29))
    fast = report_facts(books.application)
    notifications = books.application.recorder.select_notifications(start=1, limit=10**6)
    kinds = {notification.topic.rpartition(".")[2] for notification in notifications}
    assert {"PayoutSent", "PayeeRefundReceived", "DonationRefunded", "ProjectClosed"} <= kinds
    for notification in notifications:
        slow = facts_for(books.application.mapper.to_domain_event(notification), notification.id)
        assert fast(notification, notification.id) == slow, notification.topic


def test_typed_values_beyond_the_timestamp_are_decoded_as_the_library_does() -> None:
    """The plain-JSON shortcut applies only when the event's own timestamp is its one typed value."""
    books = LedgerUnderTest()
    books.ledger.execute_batch(list(commands(0.0002, seed=3)))
    fast = report_facts(books.application)
    notifications = books.application.recorder.select_notifications(start=1, limit=10**6)
    donation = next(item for item in notifications if item.topic.endswith(".DonationReceived"))
    state = orjson.loads(donation.state)
    donor = uuid4()
    variants = {
        # A typed value in a field the facts read: the transcoder turns it into a UUID.
        "typed": state | {"donor_id": {"_type_": "uuid_hex", "_data_": donor.hex}},
        # Text that looks like the type marker, inside a value: still plain text.
        "marker_text": state | {"channel": "_type_", "donor_id": '"timestamp":{"_type_"'},
    }
    for name, changed in variants.items():
        stored = Notification(
            id=donation.id,
            originator_id=donation.originator_id,
            originator_version=donation.originator_version,
            topic=donation.topic,
            state=orjson.dumps(changed),
        )
        slow = facts_for(books.application.mapper.to_domain_event(stored), stored.id)
        assert fast(stored, stored.id) == slow, name
    assert slow[0][1]["donor_id"] == '"timestamp":{"_type_"'
    typed_row = fast(
        Notification(
            id=donation.id,
            originator_id=donation.originator_id,
            originator_version=donation.originator_version,
            topic=donation.topic,
            state=orjson.dumps(variants["typed"]),
        ),
        donation.id,
    )[0][1]
    assert typed_row["donor_id"] == donor

"""Events stored by earlier versions are still read, and new events are stored with the same fields.

tests/fixtures/stored_events_before_explicit_classes.jsonl holds the events that the ledger
stored for tests/fixtures/stored_events_commands.jsonl when the project's events were still
declared with the library's @event decorator, as were identifier claims. Both were since
rewritten as explicit event classes (cheaper to trigger); these tests hold the two to the
same stored form.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.identity import aggregate_id
from domain.project import Project
from domain.registry import _CLAIM_TOPIC, IdentifierClaim
from projections.checksum import reports_checksum
from services.read_side import catch_up
from tests.ledger_fixtures import LedgerUnderTest

FIXTURES = Path(__file__).parent.parent / "fixtures"
# Differ from run to run: when the event happened, and donors' sealed names (a fresh key each run).
_VARYING = {"timestamp", "sealed_display_name", "command_digest"}


def _commands() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / "stored_events_commands.jsonl").read_text().splitlines()]


def _stored_before() -> list[dict[str, Any]]:
    lines = (FIXTURES / "stored_events_before_explicit_classes.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _stored_now(books: LedgerUnderTest) -> list[dict[str, Any]]:
    return [
        {"topic": item.topic, "state": orjson.loads(item.state)}
        for item in books.application.recorder.select_notifications(start=1, limit=1000)
    ]


def test_every_project_event_kind_is_in_the_fixture() -> None:
    names = {item["topic"].rpartition(".")[2] for item in _stored_before() if ":Project." in item["topic"]}
    assert {name for name, value in vars(Project).items() if isinstance(value, type)} <= names | {"Event", "Created"}
    assert len(names) == 9


def test_new_events_have_the_fields_of_the_old_ones_in_the_same_order() -> None:
    books = LedgerUnderTest()
    books.ledger.execute_batch(_commands())
    before, now = _stored_before(), _stored_now(books)
    assert [item["topic"] for item in now] == [item["topic"] for item in before]
    for old, new in zip(before, now, strict=True):
        assert list(new["state"]) == list(old["state"]), old["topic"]
        for field, value in old["state"].items():
            if field not in _VARYING:
                assert new["state"][field] == value, (old["topic"], field)


def test_old_events_load_into_the_same_aggregates_and_reports() -> None:
    decided = LedgerUnderTest()
    decided.ledger.execute_batch(_commands())
    loaded = LedgerUnderTest()
    loaded.application.recorder.insert_events(
        [
            StoredEvent(
                originator_id=UUID(item["originator_id"]),
                originator_version=item["originator_version"],
                topic=item["topic"],
                state=orjson.dumps(item["state"]),
            )
            for item in _stored_before()
        ]
    )
    project_id = aggregate_id("project", "P-XL")
    old: Project = loaded.application.repository.get(project_id)
    new: Project = decided.application.repository.get(project_id)
    assert isinstance(old, Project) and old.closed_at is not None
    assert old.disbursements["DS-REJ"].status == "rejected"

    def state(aggregate: object) -> dict[str, Any]:
        times = ("_created_on", "_modified_on")
        return {key: repr(value) for key, value in vars(aggregate).items() if key not in times}

    assert state(old) == state(new)
    claim_id = aggregate_id("donation", "DN1")
    old_claim = loaded.application.repository.get(claim_id)
    new_claim = decided.application.repository.get(claim_id)
    assert isinstance(old_claim, IdentifierClaim) and old_claim.project_id == "P-XL"
    assert _CLAIM_TOPIC == get_topic(IdentifierClaim)
    assert state(old_claim) == state(new_claim)
    catch_up(decided.application, decided.read_model)
    catch_up(loaded.application, loaded.read_model)
    assert reports_checksum(loaded.read_model) == reports_checksum(decided.read_model)

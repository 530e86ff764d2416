"""Events stored by earlier versions are still read, and new events are stored with the same fields.

tests/fixtures/stored_events_before_explicit_classes.jsonl holds the events that the ledger
stored for tests/fixtures/stored_events_commands.jsonl when the project's events were still
declared with the library's @event decorator, as were identifier claims. Both were since
rewritten as explicit event classes (cheaper to trigger); these tests hold the two to the
same stored form. Identifier claims are no longer events at all but rows beside the events
(services.claims): a store that holds them as events has them copied once, and they still load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.identity import aggregate_id
from domain.project import Project
from domain.registry import IdentifierClaim
from infra.store import open_stores
from projections.checksum import reports_checksum
from services.claims import Claim, ClaimingRecorder, claim_key, copy_claim_events
from services.read_side import catch_up
from tests.ledger_fixtures import LedgerUnderTest

FIXTURES = Path(__file__).parent.parent / "fixtures"
CLAIMED = get_topic(IdentifierClaim.IdentifierClaimed)
# Differ from run to run: when the event happened, and donors' sealed names (a fresh key each run).
_VARYING = {"timestamp", "sealed_display_name", "command_digest"}


def _commands() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / "stored_events_commands.jsonl").read_text().splitlines()]


def _stored_before() -> list[dict[str, Any]]:
    lines = (FIXTURES / "stored_events_before_explicit_classes.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _stored_event(item: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=UUID(item["originator_id"]),
        originator_version=item["originator_version"],
        topic=item["topic"],
        state=orjson.dumps(item["state"]),
    )


def _stored_now(books: LedgerUnderTest) -> list[dict[str, Any]]:
    return [
        {"topic": item.topic, "state": orjson.loads(item.state)}
        for item in books.application.recorder.select_notifications(start=1, limit=1000)
    ]


def test_every_project_event_kind_is_in_the_fixture() -> None:
    names = {item["topic"].rpartition(".")[2] for item in _stored_before() if ":Project." in item["topic"]}
    assert {name for name, value in vars(Project).items() if isinstance(value, type)} <= names | {"Event", "Created"}
    assert len(names) == 9


def _claims_of_events(stored: list[dict[str, Any]]) -> dict[str, str]:
    """What the claim events of an older store said: each claim's key and project."""
    return {
        claim_key(item["state"]["kind"], item["state"]["identifier"]): item["state"]["project_id"]
        for item in stored
        if item["topic"] == CLAIMED
    }


def test_new_events_have_the_fields_of_the_old_ones_in_the_same_order() -> None:
    books = LedgerUnderTest()
    books.ledger.execute_batch(_commands())
    before, now = [item for item in _stored_before() if item["topic"] != CLAIMED], _stored_now(books)
    # The claims that were events are rows beside the events now, the same ones.
    claimed = _claims_of_events(_stored_before())
    assert len(claimed) == 11
    found = books.ledger.work.recorder.find_claims([*claimed, "donation:never"])
    assert {key: claim.project_id for key, claim in found.items()} == claimed
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
    loaded.application.recorder.insert_events([_stored_event(item) for item in _stored_before()])
    project_id = aggregate_id("project", "P-XL")
    old: Project = loaded.application.repository.get(project_id)
    new: Project = decided.application.repository.get(project_id)
    assert isinstance(old, Project) and old.closed_at is not None
    assert old.disbursements["DS-REJ"].status == "rejected"

    def state(aggregate: object) -> dict[str, Any]:
        times = ("_created_on", "_modified_on")
        return {key: repr(value) for key, value in vars(aggregate).items() if key not in times}

    assert state(old) == state(new)
    # A claim stored as an event still loads, and its store's claims are copied from such events once.
    old_claim = loaded.application.repository.get(aggregate_id("donation", "DN1"))
    assert isinstance(old_claim, IdentifierClaim) and old_claim.project_id == "P-XL"
    claimed = _claims_of_events(_stored_before())
    assert loaded.ledger.work.recorder.find_claims(list(claimed)) == {}
    assert copy_claim_events(loaded.application) == len(claimed) == 11
    assert copy_claim_events(loaded.application) == 0
    copied = loaded.ledger.work.recorder.find_claims(list(claimed))
    assert copied == decided.ledger.work.recorder.find_claims(list(claimed))
    assert copied["donation:DN1"] == Claim("P-XL", old_claim.command_digest)
    # The copied claims decide as the events did: the same command is a duplicate, other content a conflict.
    donation = next(command for command in _commands() if command.get("donation_id") == "DN1")
    assert loaded.ledger.execute(donation).status == "duplicate"
    assert loaded.ledger.execute({**donation, "amount": "501.00"}).code == "id_conflict"
    catch_up(decided.application, decided.read_model)
    catch_up(loaded.application, loaded.read_model)
    assert reports_checksum(loaded.read_model) == reports_checksum(decided.read_model)


def check_claim_events_copied_on_open(url: str) -> None:
    """A store whose claims are events has them copied into its claims when it is next opened."""
    stores = open_stores(url)
    try:
        stores.application.recorder.insert_events([_stored_event(item) for item in _stored_before()])
    finally:
        stores.close()
    claimed = _claims_of_events(_stored_before())
    stores = open_stores(url)
    try:
        recorder = cast(ClaimingRecorder, stores.application.recorder)
        assert {key: claim.project_id for key, claim in recorder.find_claims(list(claimed)).items()} == claimed
        donation = next(command for command in _commands() if command.get("donation_id") == "DN2")
        assert stores.ledger.execute(donation).status == "duplicate"
        assert stores.ledger.execute({**donation, "amount": "1.00"}).code == "id_conflict"
    finally:
        stores.close()


def test_claim_events_are_copied_on_open_on_sqlite(tmp_path: Path) -> None:
    check_claim_events_copied_on_open(f"sqlite:///{tmp_path / 'ledger.db'}")

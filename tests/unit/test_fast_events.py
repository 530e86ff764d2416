"""A project's own trigger_event and the LedgerMapper make exactly what the library's own code makes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.project import Project
from domain.registry import Donor
from services.codec import LedgerMapper
from services.ledger import LedgerApplication

FIXED = datetime(2026, 4, 2, 5, 1, 2, 123456, tzinfo=UTC)
TRANSCODER = LedgerApplication().mapper.transcoder


def _story(donation_ids: list[str], channel: str) -> Project:
    """A project through every kind of event: donations, a payout and its refund, a donor refund, a closing."""
    project = Project(
        project_id="P",
        foundation_id="F",
        partner_id="S",
        name="项目",
        currency="CNY",
        opened_at="2026-03-01T08:00:00+08:00",
        command_digest="d0",
    )
    for number, donation_id in enumerate(donation_ids, start=1):
        project.receive_donation(
            donation_id, f"D{number}", 5000 + number, "CNY", channel, "2026-03-02T10:00:00+08:00", None
        )
    project.request_disbursement("B1", "H1", 1500, "surgery", "worker", "2026-03-03T10:00:00+08:00")
    project.approve_disbursement("B1", "treasurer", "2026-03-04T10:00:00+08:00")
    project.record_payout("B1", "2026-03-05T10:00:00+08:00", "bank-1")
    project.record_payee_refund("R1", "B1", 300, "2026-03-06T10:00:00+08:00", None)
    project.request_disbursement("B2", "H1", 100, "drugs", "worker", "2026-03-07T10:00:00+08:00")
    project.reject_disbursement("B2", "treasurer", "no receipt", "2026-03-08T10:00:00+08:00")
    project.refund_donation("R2", donation_ids[-1], 200, "asked", "2026-03-09T10:00:00+08:00")
    project.close("2026-03-10T10:00:00+08:00")
    return project


def _events(monkeypatch: pytest.MonkeyPatch, library: bool, donation_ids: list[str], channel: str) -> Project:
    """The story's project, its events triggered by Project's own method or by the library's (counted)."""
    with monkeypatch.context() as patch:
        patch.setattr("eventsourcing.domain.datetime_now_with_tzinfo", lambda: FIXED)
        triggered: list[str] = []
        if library:

            def librarys(project: Project, event_class: type[Any], **kwargs: Any) -> None:
                triggered.append(event_class.__name__)
                Aggregate.trigger_event(project, event_class, **kwargs)

            patch.setattr(Project, "trigger_event", librarys)
        project = _story(donation_ids, channel)
        assert len(triggered) == (len(project.pending_events) - 1 if library else 0)  # all but the opening
        return project


def test_a_projects_events_equal_the_librarys_in_fields_order_and_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = ["DN1", "DN2", "DN3"]
    fast, library = _events(monkeypatch, False, ids, "online"), _events(monkeypatch, True, ids, "online")
    assert (fast.version, fast.modified_on, fast.snapshot_state()) == (
        library.version,
        library.modified_on,
        library.snapshot_state(),
    )
    made, expected = fast.collect_events(), library.collect_events()
    assert len(made) == 12
    assert made == expected
    assert [list(vars(event)) for event in made] == [list(vars(event)) for event in expected]
    mapper: Mapper[Any] = Mapper(transcoder=TRANSCODER)
    assert [mapper.to_stored_event(event) for event in made] == [mapper.to_stored_event(e) for e in expected]


def test_a_project_collects_its_events_as_the_librarys_aggregate_does(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [f"DN{number}" for number in range(50)]
    ours, theirs = (_events(monkeypatch, False, ids, "online") for _ in range(2))
    expected = Aggregate.collect_events(theirs)
    assert len(expected) == 1 + 50 + 8
    assert ours.collect_events() == expected
    assert ours.collect_events() == [] == ours.pending_events


def _both(event: Any, **options: Any) -> None:
    assert LedgerMapper(transcoder=TRANSCODER, **options).to_stored_event(event) == Mapper(
        transcoder=TRANSCODER, **options
    ).to_stored_event(event)


@settings(max_examples=150)
@given(
    ids=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4, unique=True),
    channel=st.text(max_size=20),
)
def test_the_ledger_mapper_writes_the_librarys_bytes(ids: list[str], channel: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        events = _events(patch, False, ids, channel).collect_events()
    for event in events:
        _both(event)
        _both(event, compressor=ZlibCompressor())


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 4, 2, 5, 1, 2, tzinfo=UTC),
        datetime(2026, 4, 2, 5, 1, 2, 7, tzinfo=timezone(timedelta(hours=8))),
        datetime(2026, 4, 2, 5, 1, 2, tzinfo=timezone(timedelta(hours=5, minutes=30, seconds=15))),
    ],
)
def test_the_ledger_mapper_writes_any_timestamp_as_the_library_does(moment: datetime) -> None:
    donor = Donor(donor_id="D1", sealed_display_name=None, anonymous=True, command_digest="d")
    (created,) = donor.collect_events()
    _both(type(created)(**{**vars(created), "timestamp": moment}))


def test_the_ledger_mapper_maps_a_plain_event_without_the_librarys_mapper(monkeypatch: pytest.MonkeyPatch) -> None:
    events = _events(monkeypatch, False, ["DN1"], "online").collect_events()
    librarys: Mapper[Any] = Mapper(transcoder=TRANSCODER)
    expected = [librarys.to_stored_event(event) for event in events]

    def refuse(self: Mapper[Any], domain_event: Any) -> None:
        raise AssertionError("the library's mapper was used")

    monkeypatch.setattr(Mapper, "to_stored_event", refuse)
    assert [LedgerMapper(transcoder=TRANSCODER).to_stored_event(event) for event in events] == expected


def test_an_event_class_with_a_version_is_mapped_by_the_librarys_mapper(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its class version is written (the library's way), also after plain events of its base were mapped."""
    (plain,) = _events(monkeypatch, False, ["DN1"], "online").collect_events()[-1:]

    class Versioned(type(plain)):  # type: ignore[misc]
        class_version = 2

    versioned = Versioned(**vars(plain))
    mapper = LedgerMapper(transcoder=TRANSCODER)
    assert b"class_version" not in mapper.to_stored_event(plain).state
    stored = mapper.to_stored_event(versioned)
    assert stored == Mapper(transcoder=TRANSCODER).to_stored_event(versioned)
    assert TRANSCODER.decode(stored.state)["class_version"] == 2


def test_an_application_that_names_a_mapper_gets_that_mapper() -> None:
    assert type(LedgerApplication().mapper) is LedgerMapper
    named = LedgerApplication(env={"MAPPER_TOPIC": "eventsourcing.persistence:Mapper"})
    assert type(named.mapper) is Mapper

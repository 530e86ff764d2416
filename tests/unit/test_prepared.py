"""Donations prepared before they are decided (services.prepared), and lines prepared in a helper process.

The prepared way must change nothing but where the work is done: the same stored bytes for a
donation's event, the same refusals with the same codes and messages, the same lines in the
same order whether they were prepared in this process or in the helper.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infra.line_reader
from domain.project import Project
from infra.bench.generator import write_commands
from infra.cores import move_aside, side_cores
from infra.importer import import_file
from infra.limits import import_line_length_max, line_reader_file_bytes_min
from infra.line_reader import (
    _framed,
    _received,
    lines_prepared_by_helper,
    prepared_line,
    prepared_lines,
    prepares_in_helper,
)
from infra.store import EVENTS_TABLE, open_stores
from services.codec import LedgerMapper
from services.ledger import Ledger, LedgerApplication, Outcome
from services.prepared import PreparedDonation, prepare


def _project(currency: str) -> Project:
    return Project(
        project_id="P-1",
        foundation_id="F",
        partner_id="S",
        name="项目",
        currency=currency,
        opened_at="2026-03-01T08:00:00+08:00",
        command_digest="d0",
    )


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(str.strip)
_IDENTIFIER = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:@/-]{0,15}\Z")


@settings(max_examples=150, deadline=None)
@given(
    donation_id=_IDENTIFIER,
    donor_id=_IDENTIFIER,
    channel=_TEXT,
    whole=st.integers(min_value=1, max_value=10**9),
    fraction=st.sampled_from(["", ".5", ".50", ".05", ".00"]),
    currency=st.sampled_from(["CNY", "HKD", "USD"]),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
    micros=st.integers(min_value=0, max_value=999_999),
    external_ref=st.none() | _TEXT,
)
def test_a_prepared_donations_event_is_stored_byte_for_byte_as_the_mapper_writes_it(
    donation_id: str,
    donor_id: str,
    channel: str,
    whole: int,
    fraction: str,
    currency: str,
    offset_minutes: int,
    micros: int,
    external_ref: str | None,
) -> None:
    received = datetime(2026, 3, 2, 10, 0, 0, micros, tzinfo=timezone(timedelta(minutes=offset_minutes)))
    command: dict[str, Any] = {
        "type": "record_donation",
        "donation_id": donation_id,
        "donor_id": donor_id,
        "project_id": "P-1",
        "amount": f"{whole}{fraction}",
        "currency": currency,
        "channel": channel,
        "received_at": received.isoformat(),
    }
    if external_ref is not None:
        command["external_ref"] = external_ref
    donation = prepare(command)
    assert type(donation) is PreparedDonation
    project = _project(currency)
    event = project.receive_donation(
        donation.donation_id,
        donation.donor_id,
        donation.amount_minor,
        donation.currency,
        donation.channel,
        donation.received_at,
        donation.external_ref,
    )
    mapper = LedgerApplication().mapper
    assert isinstance(mapper, LedgerMapper)
    assert mapper.to_stored_event_encoded(event, donation.encoded) == mapper.to_stored_event(event)


def test_the_fields_encoded_beforehand_are_not_used_where_the_mapper_would_take_the_librarys_way() -> None:
    application = LedgerApplication(env={"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"})
    event = _project("CNY").receive_donation("G1", "D1", 100, "CNY", "wechat", "2026-03-02T10:00:00+08:00", None)
    mapper = application.mapper
    assert isinstance(mapper, LedgerMapper)
    # Fields that do not match the event: were they used, the state would be wrong.
    stored = mapper.to_stored_event_encoded(event, b',"not":"these"}')
    assert stored == mapper.to_stored_event(event)
    assert mapper.to_domain_event(stored) == event


BAD_DONATIONS = [
    {"amount": "12.345"},
    {"amount": "-5"},
    {"amount": 5},
    {"currency": "XXX"},
    {"received_at": "yesterday"},
    {"donor_id": ""},
    {"surprise": True},
]


@pytest.mark.parametrize("change", BAD_DONATIONS)
def test_a_donation_refused_while_prepared_gets_the_ledgers_own_refusal(change: dict[str, Any]) -> None:
    command = {
        "type": "record_donation",
        "donation_id": "G1",
        "donor_id": "D1",
        "project_id": "P-1",
        "amount": "100.00",
        "currency": "CNY",
        "channel": "wechat",
        "received_at": "2026-03-02T10:00:00+08:00",
        **change,
    }
    # The ledger decides the command as it came, from its JSON object; the line is prepared first.
    by_ledger = Ledger(LedgerApplication()).execute(command)
    by_preparing = prepared_line(json.dumps(command).encode())
    assert by_ledger.status == "rejected"
    assert by_preparing == by_ledger


def _lines_file(tmp_path: Path) -> Path:
    """Generated commands with a blank line, lines that are not JSON, a refused donation and a repeat."""
    generated = tmp_path / "generated.jsonl"
    write_commands(generated, 0.005)
    lines = generated.read_bytes().splitlines()
    path = tmp_path / "commands.jsonl"
    odd = [b"", b"{not json", b'{"type": "record_donation", "amount": "1"}', lines[40], b"[1, 2.5, null]"]
    path.write_bytes(b"\n".join([*lines[:50], *odd, *lines[50:]]) + b"\n")
    return path


@pytest.mark.parametrize("after", [0, 37, 4100])
def test_the_helper_sends_every_line_as_this_process_prepares_it(tmp_path: Path, after: int) -> None:
    path = _lines_file(tmp_path)
    here = list(prepared_lines(path, after))
    with lines_prepared_by_helper(path, after) as lines:
        there = list(lines)
    assert there == here
    assert there[0][0] == after + 1
    kinds = {type(value) for _, value in there}
    assert PreparedDonation in kinds and dict in kinds
    # Line 52 is the first that is not JSON: refused while it is read.
    assert (Outcome in kinds) == (after < 52)


def test_the_helper_keeps_off_the_core_of_the_importing_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved: list[set[int]] = []

    def moving(pid: int) -> None:
        move_aside(pid)
        moved.append(os.sched_getaffinity(pid))

    monkeypatch.setattr(infra.line_reader, "move_aside", moving)
    path = _lines_file(tmp_path)
    with lines_prepared_by_helper(path) as lines:
        assert list(lines) == list(prepared_lines(path))
    assert moved == [side_cores() or os.sched_getaffinity(0)]


def test_a_helper_that_stops_before_the_end_stops_the_import(tmp_path: Path) -> None:
    whole = _framed([(1, 0, {"type": "x"})]) + _framed([(2, 0, {"type": "y"})]) + _framed(("end",))
    assert [number for number, _ in _received(io.BytesIO(whole))] == [1, 2]
    for cut in (len(whole) - 3, len(whole) - len(_framed(("end",))), 7):
        received = _received(io.BytesIO(whole[:cut]))
        with pytest.raises(OSError, match="stopped before the end"):
            list(received)


def test_a_file_the_helper_cannot_read_is_an_error_of_the_import(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with lines_prepared_by_helper(folder) as lines, pytest.raises(IsADirectoryError):
        list(lines)


def _books(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every stored event without its timestamp, and every claim."""
    stores = open_stores(url)
    try:
        database = stores.database
        table = EVENTS_TABLE[database.dialect][0]
        events = [
            (str(row["originator_id"]), row["originator_version"], row["topic"], _without_timestamp(row["state"]))
            for row in database.query(f"SELECT originator_id, originator_version, topic, state FROM {table}")
        ]
        claims = [tuple(row.values()) for row in database.query("SELECT * FROM ft_claims ORDER BY 1")]
    finally:
        stores.close()
    return sorted(events), claims


def _without_timestamp(state: bytes) -> dict[str, Any]:
    fields: dict[str, Any] = json.loads(state)
    fields.pop("timestamp")
    return fields


def test_an_import_prepared_in_the_helper_records_what_one_prepared_here_records(tmp_path: Path) -> None:
    compare_helper_with_here(lambda name: f"sqlite:///{tmp_path / f'{name}.db'}", tmp_path)


def compare_helper_with_here(url_of: Callable[[str], str], folder: Path) -> None:
    """Shared by the SQLite test here and the PostgreSQL one in tests/integration; `url_of(name)` names a new store."""
    path = _lines_file(folder)
    summaries, books = [], []
    for in_helper in (False, True):
        url = url_of(f"ledger_{str(in_helper).lower()}")
        stores = open_stores(url)
        try:
            summaries.append(import_file(stores.ledger, path, batch_size=500, prepare_in_helper=in_helper).as_dict())
        finally:
            stores.close()
        books.append(_books(url))
    assert summaries[0] == summaries[1]
    assert summaries[0]["applied"] > 1000 and summaries[0]["duplicates"] == 1 and len(summaries[0]["rejected"]) >= 3
    assert books[0] == books[1]
    assert len(books[0][0]) >= summaries[0]["applied"]


def test_only_a_large_import_prepares_its_lines_in_a_helper() -> None:
    assert prepares_in_helper(line_reader_file_bytes_min)
    assert not prepares_in_helper(line_reader_file_bytes_min - 1)


_DONATION_LINE: dict[str, Any] = {
    "type": "record_donation",
    "donation_id": "DN1",
    "donor_id": "D1",
    "project_id": "P1",
    "amount": "19.19",
    "currency": "CNY",
    "channel": "online",
    "received_at": "2026-04-02T05:01:23+08:00",
}
# Values a field of a donation's line may hold: valid ones and every awkward kind of JSON.
_JSON_TEXT = (
    st.sampled_from(
        [
            '"19.190"',
            '"0.01"',
            '"2026-04-02T05:01:23Z"',
            '"2026-04-02 05:01:23+08:00"',
            '"2026-04-02T05:01:23.5-03:30"',
            '"2026-04-02"',
            '"1743541283"',
            "1743541283",
            '"\\ud800"',
            '"\\u00e9\\n"',
            '"\\u0000"',
            '"USD"',
            '"JPY"',
            "null",
            "true",
            "19.19",
            "1e400",
            "NaN",
            "123456789012345678901234567890",
            '["DN1"]',
            '{"a": 1}',
            '"record_donation"',
            '"refund_donation"',
        ]
    )
    | st.text(max_size=6).map(json.dumps)
    | st.text(max_size=6).map(lambda text: json.dumps(text, ensure_ascii=False))
)


@settings(max_examples=400, deadline=None)
@given(
    changes=st.lists(st.tuples(st.sampled_from([*_DONATION_LINE, "external_ref", "note"]), _JSON_TEXT), max_size=3),
    drop=st.sets(st.sampled_from(list(_DONATION_LINE)), max_size=1),
    spaced=st.booleans(),
    suffix=st.just(b"") | st.sampled_from([b" ", b"x", b"\xff", b"}"]),
)
def test_a_donation_read_in_one_step_is_what_reading_then_validating_gives(
    changes: list[tuple[str, str]], drop: set[str], spaced: bool, suffix: bytes
) -> None:
    """prepared_line's one step (parse_command_json) against prepared_value's two, on valid and broken lines.

    Fields are dropped, changed or repeated (a repeated key's last value counts in both ways).
    """
    separator = ", " if spaced else ","
    fields = [f"{json.dumps(key)}:{json.dumps(value)}" for key, value in _DONATION_LINE.items() if key not in drop]
    fields += [f"{json.dumps(key)}:{text}" for key, text in changes]
    raw = ("{" + separator.join(fields) + "}").encode("utf-8", "surrogatepass") + suffix
    assert prepared_line(raw) == infra.line_reader.prepared_value(raw)


def test_a_valid_donation_is_prepared_in_one_step_and_a_broken_one_the_long_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    valid = json.dumps(_DONATION_LINE).encode()
    broken = json.dumps(_DONATION_LINE | {"amount": 19.19}).encode()
    long_way: list[bytes] = []
    reference = infra.line_reader.prepared_value

    def noted(raw: bytes) -> object:
        long_way.append(raw)
        return reference(raw)

    monkeypatch.setattr(infra.line_reader, "prepared_value", noted)
    assert isinstance(prepared_line(valid), PreparedDonation)
    assert prepared_line(broken) == Outcome(
        "rejected", "invalid_amount", "field 'amount': Input should be a valid string"
    )
    assert long_way == [broken]
    # A line longer than the limit is refused whatever it holds, here valid but for its spaces.
    padded = valid[:-1] + b" " * import_line_length_max + b"}"
    assert prepared_line(padded) == Outcome(
        "rejected", "invalid_command", f"line is longer than {import_line_length_max} bytes"
    )


@settings(max_examples=200, deadline=None)
@given(
    donation_id=_IDENTIFIER,
    amount=st.from_regex(r"\A[0-9]{1,6}(\.[0-9]{0,3})?\Z"),
    currency=st.sampled_from(["CNY", "JPY", "USD", "XYZ"]),
    received_at=st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])),
    external_ref=st.none() | st.text(max_size=8),
    ascii_only=st.booleans(),
)
def test_a_valid_looking_donation_is_prepared_alike_in_one_step_or_two(
    donation_id: str,
    amount: str,
    currency: str,
    received_at: datetime,
    external_ref: str | None,
    ascii_only: bool,
) -> None:
    line = _DONATION_LINE | {
        "donation_id": donation_id,
        "amount": amount,
        "currency": currency,
        "received_at": received_at.isoformat(),
        "external_ref": external_ref,
    }
    raw = json.dumps(line, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert prepared_line(raw) == infra.line_reader.prepared_value(raw)

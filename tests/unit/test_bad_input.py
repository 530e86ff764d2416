"""Bad input of every kind gets a coded rejection, never a traceback, and records nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.commands import parse_command
from domain.errors import ERROR_CODES, DomainError
from infra.importer import import_file
from tests.ledger_fixtures import LedgerUnderTest, at

GOOD_DONATION = {
    "type": "record_donation",
    "donation_id": "DN1",
    "donor_id": "D1",
    "project_id": "P",
    "amount": "5.00",
    "currency": "CNY",
    "channel": "online",
    "received_at": at(2),
}


@pytest.fixture
def books() -> LedgerUnderTest:
    ledger = LedgerUnderTest()
    ledger.setup_project()
    return ledger


def import_lines(books: LedgerUnderTest, tmp_path: Path, lines: list[bytes]) -> dict[str, object]:
    path = tmp_path / "commands.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return import_file(books.ledger, path).as_dict()


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"{not json", "invalid_command"),
        (b"[1, 2, 3]", "invalid_command"),
        (b"42", "invalid_command"),
        (b'{"type": "pay_everyone"}', "invalid_command"),
        (b'{"donation_id": "DN1"}', "invalid_command"),
        (b"\xff\xfe not utf-8", "invalid_command"),
        (b"[" * 100_000, "invalid_command"),
        (json.dumps({**GOOD_DONATION, "amount": 5.0}).encode(), "invalid_amount"),
        (json.dumps({**GOOD_DONATION, "amount": "9" * 30}).encode(), "invalid_amount"),
        (json.dumps({**GOOD_DONATION, "donor_id": 12}).encode(), "invalid_command"),
        (json.dumps({**GOOD_DONATION, "received_at": "yesterday"}).encode(), "invalid_command"),
        (json.dumps({**GOOD_DONATION, "received_at": 1767225600}).encode(), "invalid_command"),
        (json.dumps({**GOOD_DONATION, "channel": "x" * 10_000}).encode(), "invalid_command"),
        (json.dumps({**GOOD_DONATION, "donation_id": "D" * 10_000}).encode(), "invalid_command"),
        (json.dumps({**GOOD_DONATION, "extra": "field"}).encode(), "invalid_command"),
        (b'{"type": "record_donation", "amount": ' + b"9" * 5000 + b"}", "invalid_command"),
    ],
)
def test_a_bad_line_is_rejected_with_its_code_and_nothing_is_recorded(
    books: LedgerUnderTest, tmp_path: Path, line: bytes, code: str
) -> None:
    before = books.event_count()
    summary = import_lines(books, tmp_path, [line])
    assert {"applied": 0, "duplicates": 0} == {key: summary[key] for key in ("applied", "duplicates")}
    assert [(1, code)] == [(rejected["line"], rejected["code"]) for rejected in summary["rejected"]]  # type: ignore[attr-defined]
    assert before == books.event_count()


def test_good_lines_around_bad_ones_are_each_applied_on_their_own(books: LedgerUnderTest, tmp_path: Path) -> None:
    lines = [
        json.dumps(GOOD_DONATION).encode(),
        b"{broken",
        b"",
        json.dumps({**GOOD_DONATION, "donation_id": "DN2", "amount": "1.001"}).encode(),
        json.dumps({**GOOD_DONATION, "donation_id": "DN3"}).encode(),
        json.dumps(GOOD_DONATION).encode(),
    ]
    summary = import_lines(books, tmp_path, lines)
    assert 2 == summary["applied"]
    assert 1 == summary["duplicates"]
    assert [(2, "invalid_command"), (4, "invalid_amount")] == [
        (rejected["line"], rejected["code"])
        for rejected in summary["rejected"]  # type: ignore[attr-defined]
    ]
    assert "10.00" == books.report("project", "P")["donated"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=6),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["record_donation", "open_project", "refund_donation"])},
        optional={key: st.just(value) | json_values for key, value in GOOD_DONATION.items() if key != "type"},
    )
)
def test_any_json_object_is_a_command_or_a_coded_rejection(data: dict[str, object]) -> None:
    try:
        parse_command(data)
    except DomainError as error:
        assert error.code in ERROR_CODES
        assert error.message


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_on_a_line_give_an_outcome_with_a_code_and_record_nothing_half(raw: bytes) -> None:
    books = LedgerUnderTest()
    books.setup_project()
    before = books.event_count()
    from infra.line_reader import decode_line
    from services.ledger import Outcome

    decoded = decode_line(raw)
    outcome = decoded if isinstance(decoded, Outcome) else books.ledger.execute(decoded)
    assert outcome.status in {"applied", "duplicate", "rejected"}
    if outcome.status == "rejected":
        assert outcome.code in ERROR_CODES
        assert before == books.event_count()


def _as_read(value: object) -> str:
    """A decoded value with every type showing (1, 1.0 and True differ; NaN equals itself)."""
    return f"{type(value).__name__}:{value!r}"


@settings(max_examples=500)
@given(
    st.one_of(
        st.binary(max_size=120),
        st.builds(
            lambda value, ascii_only: json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"),
            json_values
            | st.dictionaries(st.text(max_size=15), json_values | st.integers(min_value=2**63 - 2, max_value=2**70)),
            st.booleans(),
        ),
    )
)
def test_a_line_reads_as_the_json_module_reads_it(raw: bytes) -> None:
    from infra.line_reader import decode_line, decode_line_with_json

    assert _as_read(decode_line(raw)) == _as_read(decode_line_with_json(raw))

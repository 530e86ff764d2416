"""command_digest's fast way gives the bytes of the field-by-field way, for every type of command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import domain.commands
from domain.commands import (
    _TRAILING_ZEROS,
    COMMAND_TYPES,
    RecordDonation,
    _normalised_amount,
    command_digest,
    command_digest_by_fields,
    parse_command,
)
from infra.bench.generator import commands

SCENARIO = Path(__file__).parents[1] / "scenario" / "xiaolin" / "commands.jsonl"
AT = "2026-03-02T10:00:00+08:00"
OTHERS = [
    {"type": "reject_disbursement", "disbursement_id": "DS1", "rejected_by": "t", "reason": "r", "rejected_at": AT},
    {"type": "close_project", "project_id": "P", "closed_at": AT},
]


def _every_type() -> list[dict[str, Any]]:
    raw = [
        *commands(0.0005, seed=3),
        *(json.loads(line) for line in SCENARIO.read_text(encoding="utf-8").splitlines()),
        *OTHERS,
    ]
    assert {command["type"] for command in raw} == COMMAND_TYPES
    return raw


EVERY_TYPE = _every_type()
# Instants with any offset the contract accepts: whole hours, minutes, seconds, and UTC.
offsets = st.just(UTC) | st.integers(min_value=-23 * 3600, max_value=23 * 3600).map(
    lambda seconds: timezone(timedelta(seconds=seconds))
)
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets)
amounts = st.from_regex(r"0{0,3}[1-9][0-9]{0,6}(\.[0-9]{0,2}0{0,3})?", fullmatch=True)


@settings(max_examples=300)
@given(st.sampled_from(EVERY_TYPE), instants, amounts, st.text(min_size=1, max_size=20))
def test_the_fast_digest_is_the_field_by_field_digest(
    raw: dict[str, Any], moment: datetime, amount: str, text: str
) -> None:
    command = dict(raw)
    for key in command:
        if key.endswith("_at"):
            command[key] = moment.isoformat()
    if "amount" in command:
        command["amount"] = amount
    for key in ("name", "reason", "purpose", "channel"):
        if key in command:
            command[key] = text
    parsed = parse_command(command)
    assert command_digest(parsed) == command_digest_by_fields(parsed)


def test_one_instant_digests_alike_however_its_offset_is_written() -> None:
    donation = next(command for command in EVERY_TYPE if command["type"] == "record_donation")
    in_utc = parse_command({**donation, "received_at": "2026-03-02T02:00:00Z", "amount": "5.10"})
    in_beijing = parse_command({**donation, "received_at": "2026-03-02T10:00:00+08:00", "amount": "5.1"})
    later = parse_command({**donation, "received_at": "2026-03-02T10:00:01+08:00", "amount": "5.1"})
    assert command_digest(in_utc) == command_digest(in_beijing) == command_digest_by_fields(in_utc)
    assert command_digest(later) != command_digest(in_beijing)


def test_every_type_takes_the_fast_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast way is taken (the field-by-field way is never called) and gives its bytes."""
    expected = {id(command): command_digest_by_fields(parse_command(command)) for command in EVERY_TYPE}

    def refuse(command: object) -> str:
        raise AssertionError("took the field-by-field way")

    monkeypatch.setattr(domain.commands, "command_digest_by_fields", refuse)
    for command in EVERY_TYPE:
        assert command_digest(parse_command(command)) == expected[id(command)]


class _Moment(datetime):
    """A datetime subclass: orjson refuses it, and its isoformat() may differ."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "written by the subclass"


def test_what_orjson_refuses_is_digested_the_other_way() -> None:
    donation = parse_command(next(command for command in EVERY_TYPE if command["type"] == "record_donation"))
    assert isinstance(donation, RecordDonation)
    moment = donation.received_at
    odd_moment = RecordDonation.model_construct(
        **{**donation.__dict__, "received_at": _Moment.fromtimestamp(moment.timestamp(), tz=moment.tzinfo)}
    )
    assert command_digest(odd_moment) == command_digest_by_fields(odd_moment) != command_digest(donation)
    # Text orjson refuses (validation refuses it first, so only model_construct makes one) goes
    # to the standard library, which refuses it too: the same error either way.
    lone_surrogate = RecordDonation.model_construct(**{**donation.__dict__, "channel": "\ud800"})
    for digest in (command_digest, command_digest_by_fields):
        with pytest.raises(UnicodeEncodeError):
            digest(lone_surrogate)


def _by_pattern(amount: str) -> str:
    match = _TRAILING_ZEROS.match(amount)
    return (match.group(1) + (match.group(2) or "").rstrip(".")) if match else amount


@settings(max_examples=500)
@given(amounts | st.from_regex(r"[0-9.]{0,8}", fullmatch=True) | st.text(max_size=8))
def test_an_amount_skips_the_pattern_only_when_the_pattern_would_change_nothing(amount: str) -> None:
    assert _normalised_amount(amount) == _by_pattern(amount)


def test_amounts_that_change() -> None:
    changed = {"500.00": "500", "500.": "500", "5.10": "5.1", "007": "7", "00.50": "0.5", "0.0": "0"}
    for amount, normalised in changed.items():
        assert _normalised_amount(amount) == normalised == _by_pattern(amount)
    for same in ("500", "19.19", "0.5", "50", "5.01", "", "x0.", "1.2.30"):
        assert _normalised_amount(same) == same == _by_pattern(same)

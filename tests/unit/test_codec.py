"""The fast codecs write exactly what the standard library would, so old and new ledgers read alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given, settings
from hypothesis import strategies as st

from services.codec import OrjsonTranscoder


def _registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


FAST = _registered(OrjsonTranscoder())
STANDARD = _registered(JSONTranscoder())

moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(timezones=st.just(timezone(timedelta(hours=8))))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**62), max_value=2**62)
    | st.text()
    | moments
    | st.decimals(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)
states = st.dictionaries(st.text(), values, max_size=6).map(lambda state: {"timestamp": datetime.now(UTC), **state})


@settings(max_examples=300)
@given(states)
def test_either_transcoder_reads_what_the_other_wrote(state: dict[str, Any]) -> None:
    assert FAST.decode(STANDARD.encode(state)) == state
    assert STANDARD.decode(FAST.encode(state)) == state
    assert FAST.decode(FAST.encode(state)) == state


def test_a_key_named_like_the_marker_is_left_alone() -> None:
    state = {"timestamp": datetime(2026, 4, 1, tzinfo=UTC), "note": {"_type_": "not a transcoding"}}
    assert FAST.decode(FAST.encode(state)) == state


def test_a_nested_datetime_is_read_back_as_a_datetime() -> None:
    moment = datetime(2026, 4, 1, 8, tzinfo=UTC)
    state = {"timestamp": moment, "history": [{"at": moment, "amount": Decimal("1.50")}]}
    decoded = FAST.decode(FAST.encode(state))
    assert decoded["history"][0]["at"] == moment
    assert decoded["history"][0]["amount"] == Decimal("1.50")


digest_content = st.dictionaries(
    st.text(),
    st.none() | st.booleans() | st.integers(min_value=-(2**62), max_value=2**62) | st.text(),
    max_size=8,
)


@settings(max_examples=300)
@given(digest_content)
def test_the_command_digest_bytes_are_the_standard_librarys(content: dict[str, Any]) -> None:
    standard = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    try:
        fast = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return  # command_digest falls back to json.dumps for what orjson refuses
    assert fast == standard.encode()


def test_a_command_digest_reads_the_fields_model_dump_gives() -> None:
    """command_digest reads the model's own fields: for flat commands they are model_dump()'s, every type of command."""
    from pathlib import Path

    from domain.commands import COMMAND_TYPES, parse_command
    from infra.bench.generator import commands

    scenario = Path(__file__).parents[1] / "scenario" / "xiaolin" / "commands.jsonl"
    others = [
        {"type": "reject_disbursement", "disbursement_id": "DS1", "rejected_by": "t", "reason": "r", "rejected_at": AT},
        {"type": "close_project", "project_id": "P", "closed_at": AT},
    ]
    raw = [
        *commands(0.0005, seed=3),
        *(json.loads(line) for line in scenario.read_text(encoding="utf-8").splitlines()),
        *others,
    ]
    parsed = [parse_command(command) for command in raw]
    assert {command.type for command in parsed} == COMMAND_TYPES
    for command in parsed:
        assert command.__dict__ == command.model_dump()
        assert list(command.__dict__) == list(type(command).model_fields)


AT = "2026-03-02T10:00:00+08:00"


def _with_times_as_text(value: Any) -> Any:
    """The state as the library's DatetimeAsISO would give it: each datetime as isoformat()."""
    if isinstance(value, datetime):
        return {"_type_": "datetime_iso", "_data_": value.isoformat()}
    if isinstance(value, dict):
        return {key: _with_times_as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_times_as_text(item) for item in value]
    return value


any_moments = st.datetimes(
    timezones=st.none()
    | st.just(UTC)
    | st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(timezone)
)


@settings(max_examples=300)
@given(st.dictionaries(st.text(), any_moments | st.lists(any_moments, max_size=3), max_size=4))
def test_times_are_written_as_isoformat_writes_them(state: dict[str, Any]) -> None:
    state = {"timestamp": datetime.now(UTC), **state}
    assert FAST.encode(state) == orjson.dumps(_with_times_as_text(state))

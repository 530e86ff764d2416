"""Times in the read model are exact integer microseconds since the epoch, whatever the offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from projections.facts import instant_micros


def _by_fields(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets))
def test_microseconds_since_the_epoch_for_any_offset(moment: datetime) -> None:
    assert instant_micros(moment.isoformat()) == _by_fields(moment)


def test_known_instants() -> None:
    assert instant_micros("1970-01-01T08:00:00+08:00") == 0
    assert instant_micros("1969-12-31T23:59:59.999999Z") == -1
    assert instant_micros("2026-03-02T10:00:00.000001+08:00") == 1_772_416_800_000_001

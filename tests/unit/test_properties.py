"""Invariants that hold after any sequence of commands, valid or not, in any batching."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ledger_fixtures import LedgerUnderTest
from tests.scripts import check_any_script, steps


@settings(max_examples=150)
@given(st.lists(steps, min_size=5, max_size=80), st.integers(min_value=1, max_value=25))
def test_any_command_sequence_keeps_the_books_balanced_and_replays_to_the_same_reports(
    script: list[tuple[str, int, int, int]], batch_size: int
) -> None:
    check_any_script(LedgerUnderTest(), script, batch_size)

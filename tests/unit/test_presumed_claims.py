"""An import presumes its new ids' claims free: the same outcomes and books as asking the store, fewer questions."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from infra.bench.generator import commands
from infra.importer import import_file
from infra.store import Stores
from services.claims import Claim
from services.ledger import Ledger
from tests.ledger_fixtures import on_store


def _files(folder: Path) -> tuple[Path, Path]:
    """A generated history, then a second file: a few new commands among repeats and reused ids."""
    stream = list(commands(0.002, seed=11))
    first = folder / "first.jsonl"
    first.write_text("".join(json.dumps(command, ensure_ascii=False) + "\n" for command in stream))
    donations = [command for command in stream if command["type"] == "record_donation"]
    paid = [command for command in stream if command["type"] == "record_payout"]
    # Repeated refunds: decided on their claims presumed free, they would return their lots twice.
    refunded = [command for command in stream if command["type"] == "refund_donation"]
    returned = [command for command in stream if command["type"] == "record_payee_refund"]
    repeated = donations[5]
    reused = dict(donations[9], amount="99999.99")
    fresh = [dict(command, donation_id=f"{command['donation_id']}-NEW") for command in donations[20:30]]
    second = folder / "second.jsonl"
    lines = [*fresh[:5], repeated, *fresh[5:], reused, paid[0], refunded[0], *returned]
    second.write_text("".join(json.dumps(command, ensure_ascii=False) + "\n" for command in lines))
    return first, second


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@contextmanager
def _asked(ledger: Ledger) -> Iterator[list[str]]:
    """Every claim key the ledger asks the store for, while the block runs."""
    recorder: Any = ledger.work.recorder
    original = recorder.find_claims
    asked: list[str] = []

    def find_claims(keys: Collection[str]) -> dict[str, Claim]:
        asked.extend(keys)
        found: dict[str, Claim] = original(keys)
        return found

    recorder.find_claims = find_claims
    try:
        yield asked
    finally:
        recorder.find_claims = original


def _books(stores: Stores) -> dict[str, Any]:
    stores.catch_up()
    return {
        table: stores.database.query(f"SELECT * FROM {table} ORDER BY {order}")
        for table, order in (
            ("ft_donations", "donation_id"),
            ("ft_movements", "sequence, position"),
            ("ft_project_totals", "project_id"),
        )
    }


def import_both(url: str, folder: Path) -> dict[str, Any]:
    """Import both files, each by a ledger of its own (nothing of the first in its cache); what a test compares."""
    first, second = _files(folder)
    found: dict[str, Any] = {}

    def import_first(stores: Stores) -> None:
        with _asked(stores.ledger) as asked:
            found["first"] = import_file(stores.ledger, first, batch_size=40).as_dict()
        found["asked_first"] = asked

    def import_second(stores: Stores) -> None:
        with _asked(stores.ledger) as asked:
            found["second"] = import_file(stores.ledger, second, batch_size=40).as_dict()
        found["asked_second"] = asked
        found["books"] = _books(stores)

    on_store(url, import_first)
    on_store(url, import_second)
    return found


def _asking_only(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def asking(self: Ledger) -> Iterator[None]:
        yield

    monkeypatch.setattr(Ledger, "presuming_claims_free", asking)


def compare_presumed_with_asked(url_of: Any, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shared by the SQLite test here and the PostgreSQL one in tests/integration; `url_of(name)` names a new store."""
    presumed = import_both(url_of("presumed"), folder)
    with monkeypatch.context() as patch:
        _asking_only(patch)
        asked = import_both(url_of("asked"), folder)

    assert presumed["first"] == asked["first"]
    assert presumed["second"] == asked["second"]
    assert presumed["books"] == asked["books"]
    second = presumed["second"]
    assert (second["applied"], second["duplicates"]) == (10, 8)
    assert [item["code"] for item in second["rejected"]] == ["id_conflict"]

    donation_keys = {key for key in asked["asked_first"] if key.startswith("donation:")}
    assert len(donation_keys) > 100
    # Presuming, the first import asked for no donation's claim but those that donor refunds
    # name (claims that must exist), and for the disbursements that approvals and payouts name.
    refunded = {
        f"donation:{command['donation_id']}"
        for command in _read(folder / "first.jsonl")
        if command["type"] == "refund_donation"
    }
    assert {key for key in presumed["asked_first"] if key.startswith("donation:")} <= refunded
    assert len(refunded) < len(donation_keys) / 10
    assert {key for key in presumed["asked_first"] if key.startswith("disbursement:")}
    # The second file's one batch met the taken ids when recorded, and was decided again asking for all.
    assert set(presumed["asked_second"]) == set(asked["asked_second"])
    second_lines = _read(folder / "second.jsonl")
    assert {f"donation:{line['donation_id']}" for line in second_lines if "donation_id" in line} <= set(
        presumed["asked_second"]
    )


def test_presumed_claims_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compare_presumed_with_asked(lambda name: f"sqlite:///{tmp_path / (name + '.db')}", tmp_path, monkeypatch)


def test_a_file_imported_again_is_decided_again_asking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worked story imported twice: presumed free, its repeated payee refund returns a lot
    twice, which the project refuses outright (an invariant) before the store could refuse the
    claim. The batch is decided again asking the store: the same summaries as asking throughout."""
    story = Path(__file__).parents[1] / "scenario" / "xiaolin" / "commands.jsonl"

    def twice(url: str) -> list[dict[str, Any]]:
        summaries: list[dict[str, Any]] = []
        for _ in range(2):
            on_store(url, lambda stores: summaries.append(import_file(stores.ledger, story).as_dict()))
        return summaries

    presumed = twice(f"sqlite:///{tmp_path / 'presumed.db'}")
    with monkeypatch.context() as patch:
        _asking_only(patch)
        asked = twice(f"sqlite:///{tmp_path / 'asked.db'}")
    assert presumed == asked
    assert presumed[0]["applied"] > 20 and presumed[1]["applied"] == 0

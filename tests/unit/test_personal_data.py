"""Donors' names are stored only sealed under each donor's own key; forgetting a donor destroys the key."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.cli import fundtrail, output_json

XIAOLIN = Path(__file__).parents[1] / "scenario" / "xiaolin" / "commands.jsonl"
NAMES = ["张女士", "某企业工会"]


def everything_stored(database: Path) -> bytes:
    """Every byte of every table of the ledger's two files (the report tables have their own), JSON escapes decoded."""
    files = [database, Path(f"{database}-reports")]
    assert all(path.exists() for path in files)
    dump = b""
    for path in files:
        with sqlite3.connect(path) as connection:
            tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            dump += b"".join(
                repr(row).encode() for table in tables for row in connection.execute(f"SELECT * FROM {table}")
            )
    return dump + dump.decode("unicode_escape", errors="ignore").encode("utf-8", errors="ignore")


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, Path]:
    database = tmp_path / "ledger.db"
    url = f"sqlite:///{database}"
    fundtrail(url, "import", str(XIAOLIN))
    return url, database


def test_no_name_is_stored_or_exported_in_the_clear(store: tuple[str, Path]) -> None:
    url, database = store
    exported = b"".join(
        fundtrail(url, "export", "--format", kind).stdout.encode() for kind in ("events", "beancount", "hledger")
    )
    for name in NAMES:
        assert name.encode() not in everything_stored(database)
        assert name.encode() not in exported
    assert "张女士" == fundtrail(url, "donor-name", "D1").stdout.strip()


def test_forgetting_a_donor_makes_the_name_unreadable_and_keeps_the_books(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    url, database = store
    environment = {"FUNDTRAIL_SIGNING_KEY": str(tmp_path / "k.key")}
    fundtrail(url, "keys", "init", env=environment)
    fundtrail(url, "checkpoint", env=environment)
    reports_before = {
        kind: output_json(fundtrail(url, "report", kind, business_id, "--json"))
        for kind, business_id in (("donor", "D1"), ("project", "P-XL"), ("foundation", "F-RC"))
    }
    checksum_before = output_json(fundtrail(url, "checksum"))["checksum"]

    done = fundtrail(url, "forget-donor", "D1")
    assert 0 == done.returncode, done.stderr
    assert 1 == fundtrail(url, "donor-name", "D1").returncode
    assert "某企业工会" == fundtrail(url, "donor-name", "D2").stdout.strip()
    with sqlite3.connect(database) as connection:
        assert [("D2",)] == connection.execute("SELECT donor_id FROM ft_donor_keys ORDER BY donor_id").fetchall()

    assert reports_before == {
        kind: output_json(fundtrail(url, "report", kind, business_id, "--json"))
        for kind, business_id in (("donor", "D1"), ("project", "P-XL"), ("foundation", "F-RC"))
    }
    assert checksum_before == output_json(fundtrail(url, "checksum"))["checksum"]
    verified = fundtrail(url, "verify", env=environment)
    assert 0 == verified.returncode, verified.stderr
    events = [json.loads(line) for line in fundtrail(url, "export", "--format", "events").stdout.splitlines()]
    assert ["D1"] == [event["payload"]["donor_id"] for event in events if event["type"] == "DonorForgotten"]


def test_a_forgotten_donor_cannot_be_registered_again_under_the_same_id(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = store
    fundtrail(url, "forget-donor", "D1")
    again = tmp_path / "again.jsonl"
    again.write_text(
        json.dumps(
            {"type": "register_donor", "donor_id": "D1", "display_name": "张女士", "anonymous": False},
            ensure_ascii=False,
        )
        + "\n"
    )
    assert ["id_conflict"] == [
        rejected["code"] for rejected in output_json(fundtrail(url, "import", str(again)))["rejected"]
    ]


def test_the_same_registration_sent_again_is_still_a_duplicate(store: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = store
    again = tmp_path / "again.jsonl"
    again.write_text(XIAOLIN.read_text().splitlines()[4] + "\n")
    assert 1 == output_json(fundtrail(url, "import", str(again)))["duplicates"]

"""The benchmark's Python floor: each step runs on the generated donations and the rows reach the store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from domain.project import Project
from infra.bench import floor
from infra.bench.floor import donation_floor, floor_figures
from infra.bench.generator import write_commands
from services.ledger import LedgerApplication


def test_every_step_is_timed_and_the_sum_is_theirs(tmp_path: Path) -> None:
    commands = tmp_path / "commands.jsonl"
    write_commands(commands, 0.0005)
    per_donation = donation_floor(commands, tmp_path)
    steps = {step: micros for step, micros in per_donation.items() if step != "sum"}
    assert set(steps) == {
        "read and validate the line",
        "digest",
        "its claim's key",
        "encode the event",
        "insert the event and the claim, commit each batch",
    }
    assert all(micros > 0 for micros in steps.values())
    assert per_donation["sum"] == pytest.approx(sum(steps.values()))
    rows = floor_figures(per_donation)
    assert rows["Python floor, donations/s on one core"] == f"{1e6 / per_donation['sum']:,.0f}"


def test_the_insert_step_records_an_event_and_a_claim_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = tmp_path / "commands.jsonl"
    write_commands(commands, 0.0005)
    donations = sum(1 for line in commands.read_text().splitlines() if '"record_donation"' in line)
    monkeypatch.setattr(floor, "import_batch_max", 7)  # several transactions even for a tiny file
    donation_floor(commands, tmp_path)
    with sqlite3.connect(tmp_path / "floor.db") as connection:
        topics = dict(connection.execute("SELECT topic, count(*) FROM stored_events GROUP BY topic").fetchall())
        claims = connection.execute("SELECT count(*) FROM ft_claims WHERE claim_key LIKE 'donation:%'").fetchone()[0]
        versions = connection.execute(
            "SELECT count(*) FROM stored_events WHERE topic LIKE '%DonationReceived' GROUP BY originator_id "
            "HAVING max(originator_version) - min(originator_version) + 1 != count(*)"
        ).fetchall()
    assert donations > 7
    assert topics == {"domain.project:Project.DonationReceived": donations}
    assert claims == donations
    assert versions == []  # each project's donations at consecutive versions, as the import writes them


def test_a_donation_the_import_would_reject_on_reading_is_left_out(tmp_path: Path) -> None:
    commands = tmp_path / "commands.jsonl"
    write_commands(commands, 0.0005)
    donations = sum(1 for line in commands.read_text().splitlines() if '"record_donation"' in line)
    with commands.open("a") as stream:
        stream.write('{"type": "record_donation", "donation_id": "DN-BAD", "amount": "ten"}\n')
    assert donation_floor(commands, tmp_path)["sum"] > 0
    with sqlite3.connect(tmp_path / "floor.db") as connection:
        claims = connection.execute("SELECT count(*) FROM ft_claims")
        assert claims.fetchone()[0] == donations


def test_a_file_without_donations_has_no_floor(tmp_path: Path) -> None:
    commands = tmp_path / "commands.jsonl"
    commands.write_text('{"type": "register_partner", "partner_id": "P", "name": "执行方"}\n')
    assert donation_floor(commands, tmp_path) == {}
    assert floor_figures({}) == {}


def test_the_floor_encodes_what_the_import_records(tmp_path: Path) -> None:
    """The rows hold the fields, in order, that the ledger's mapper writes for a donation."""
    commands = tmp_path / "commands.jsonl"
    write_commands(commands, 0.0005)
    donation_floor(commands, tmp_path)
    with sqlite3.connect(tmp_path / "floor.db") as connection:
        rows = dict(connection.execute("SELECT topic, state FROM stored_events ORDER BY rowid LIMIT 1").fetchall())
    application = LedgerApplication()
    project = Project("P", "F", "PARTNER", "项目", "CNY", "2026-04-01T00:00:00+08:00", "digest")
    project.receive_donation("DN1", "D1", 100, "CNY", "online", "2026-04-02T00:00:00+08:00", None)
    recorded = application.mapper.to_stored_event(project.collect_events()[-1])
    floor_state = application.mapper.transcoder.decode(rows[recorded.topic])
    real_state = application.mapper.transcoder.decode(recorded.state)
    assert list(floor_state) == list(real_state)

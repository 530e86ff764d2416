"""A rebuild whose events are read by a second process gives the very tables a rebuild in one process gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from infra.bench.generator import commands
from infra.read_model import TABLES, ReadModel
from infra.rebuild_parallel import rebuild_in_parallel
from infra.store import open_stores
from projections.checksum import reports_checksum
from services.read_side import rebuild


def _tables(read_model: ReadModel) -> dict[str, list[dict[str, Any]]]:
    return {table: read_model.database.query(f"SELECT * FROM {table} ORDER BY 1, 2") for table in TABLES}


def test_a_rebuild_read_by_a_second_process_writes_the_same_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    stores = open_stores(url)
    try:
        stores.ledger.execute_batch(list(commands(0.0008, seed=51)))
        rebuild(stores.application, stores.read_model, select=stores.select_notifications)
        expected, checksum = _tables(stores.read_model), reports_checksum(stores.read_model)
        assert len(expected["ft_movements"]) > 10

        with capture_logs() as logs:
            events = rebuild_in_parallel(stores, stores.read_model, events_min=0)
        assert events == stores.read_model.tracked()[1] == expected["ft_tracking"][0]["events"]
        assert _tables(stores.read_model) == expected
        assert reports_checksum(stores.read_model) == checksum
        assert not [entry for entry in logs if entry["log_level"] == "warning"]

        # As replay runs it: secondary indexes and running totals built once, at the end.
        with stores.read_model.rebuilding():
            rebuild_in_parallel(stores, stores.read_model, events_min=0)
        assert _tables(stores.read_model) == expected

        # A reader that cannot open the store sends nothing: this process reads everything itself.
        with capture_logs() as logs:
            rebuild_in_parallel(stores, stores.read_model, events_min=0, reader_url=f"sqlite:///{tmp_path / 'none.db'}")
        assert _tables(stores.read_model) == expected
        assert any(entry["event"] == "replay_reader_failed" for entry in logs)
    finally:
        stores.close()

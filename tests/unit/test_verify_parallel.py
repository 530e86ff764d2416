"""`verify` with the leaves recomputed by a second process finds what one process finds."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from infra.bench.generator import commands
from infra.signing import SignerKey, open_note
from infra.store import Stores
from infra.verify_parallel import verify_in_parallel
from services.trust import Verification, sign_checkpoint, verify_history
from tests.ledger_fixtures import on_store


def _findings(result: Verification) -> tuple[int, int, int, list[tuple[int, str]], list[tuple[int, str]]]:
    return result.events, result.checkpoints, result.allocations, sorted(result.problems), sorted(result.ranges)


def test_two_processes_find_what_one_finds(tmp_path: Path) -> None:
    def check(stores: Stores) -> None:
        stores.ledger.execute_batch(list(commands(0.0008, seed=61)))
        stores.catch_up()
        key = SignerKey.generate("test/ledger")
        sign_checkpoint(stores.log, key, "test/ledger")

        def opener(note: str) -> str:
            return open_note(note, key.verifier)

        def one() -> Verification:
            return verify_history(stores.application, stores.log, opener, select=stores.select_notifications)

        sound = one()
        assert sound.first_problem is None and sound.allocations > 0 and sound.checkpoints == 1
        with capture_logs() as logs:
            assert _findings(verify_in_parallel(stores, opener, events_min=0)) == _findings(sound)
        assert not [entry for entry in logs if entry["log_level"] == "warning"]

        # A donation altered in the store: both name the same event.
        stores.database.query(
            "UPDATE stored_events SET state = CAST(replace(CAST(state AS TEXT), '\"amount_minor\":', "
            "'\"amount_minor\":1') AS BLOB) WHERE rowid = (SELECT rowid FROM stored_events "
            "WHERE topic LIKE '%.DonationReceived' ORDER BY rowid LIMIT 1 OFFSET 7)"
        )
        altered = one()
        assert altered.first_problem is not None
        assert _findings(verify_in_parallel(stores, opener, events_min=0)) == _findings(altered)

        # A second process that cannot read the store: this one recomputes the leaves itself.
        with capture_logs() as logs:
            alone = verify_in_parallel(stores, opener, events_min=0, leaf_url=f"sqlite:///{tmp_path / 'none.db'}")
        assert _findings(alone) == _findings(altered)
        assert any(entry["event"] == "verify_helper_failed" for entry in logs)

    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check)

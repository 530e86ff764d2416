"""The trust contract, run on each store: tampering is found and named, receipts hold or fail for the right reason."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import pytest

from projections.ledger_log import leaf_bytes
from projections.merkle import leaf_hash
from tests.cli import fundtrail, output_json
from tests.unit.test_merkle import root_from_audit_path

XIAOLIN = Path(__file__).parent / "scenario" / "xiaolin" / "commands.jsonl"


class Tamperer(ABC):
    """Changes the event store behind the ledger's back, as an intruder with database access would."""

    @abstractmethod
    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    @property
    @abstractmethod
    def table(self) -> str: ...

    @property
    @abstractmethod
    def id_column(self) -> str: ...

    def ids(self) -> list[int]:
        return [row[0] for row in self.execute(f"SELECT {self.id_column} FROM {self.table} ORDER BY {self.id_column}")]

    def state(self, sequence: int) -> bytes:
        identifier = self.ids()[sequence - 1]
        return bytes(self.execute(f"SELECT state FROM {self.table} WHERE {self.id_column} = {identifier}")[0][0])

    def set_state(self, sequence: int, state: bytes) -> None:
        identifier = self.ids()[sequence - 1]
        self.execute(f"UPDATE {self.table} SET state = %s WHERE {self.id_column} = {identifier}", (state,))

    def delete(self, sequence: int) -> None:
        self.execute(f"DELETE FROM {self.table} WHERE {self.id_column} = {self.ids()[sequence - 1]}")

    def swap(self, first: int, second: int) -> None:
        one, other = self.ids()[first - 1], self.ids()[second - 1]
        for source, target in ((one, -1), (other, one), (-1, other)):
            self.execute(f"UPDATE {self.table} SET {self.id_column} = {target} WHERE {self.id_column} = {source}")

    def insert_copy(self, at: int, of: int) -> None:
        """Insert a forged copy of event `of` so that it becomes sequence `at`, moving the later ones up."""
        ids = self.ids()
        for identifier in reversed(ids[at - 1 :]):
            self.execute(
                f"UPDATE {self.table} SET {self.id_column} = {identifier + 1000} WHERE {self.id_column} = {identifier}"
            )
        source = ids[of - 1]
        self.execute(
            f"INSERT INTO {self.table} ({self.id_column}, originator_id, originator_version, topic, state) "
            f"SELECT {ids[at - 1]}, originator_id, originator_version + 100, topic, state FROM {self.table} "
            f"WHERE {self.id_column} = {source}"
        )

    def sequence_of(self, needle: bytes) -> int:
        for sequence in range(1, len(self.ids()) + 1):
            if needle in self.state(sequence):
                return sequence
        raise AssertionError(f"no stored event contains {needle!r}")


class TrustContract(ABC):
    """Subclasses provide a fresh store URL and a way to tamper with it."""

    @abstractmethod
    def store(self) -> str: ...

    @abstractmethod
    def tamperer(self) -> Tamperer: ...

    @pytest.fixture(autouse=True)
    def signed_ledger(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.env = {"FUNDTRAIL_SIGNING_KEY": str(tmp_path / "signing.key"), "FUNDTRAIL_LOG_LEVEL": "warning"}
        self.run("keys", "init", "--name", "test.example/ledger")
        self.run("import", str(XIAOLIN))
        self.run("checkpoint")

    def run(self, *args: str) -> Any:
        return fundtrail(self.store(), *args, env=self.env)

    def verify_failure(self) -> str:
        done = self.run("verify")
        assert 1 == done.returncode, done.stdout
        return str(done.stderr.strip().splitlines()[-1])

    def receipt(self, donation_id: str) -> dict[str, Any]:
        done = self.run("receipt", donation_id)
        assert 0 == done.returncode, done.stderr
        return dict(output_json(done))

    def check_receipt(self, receipt: dict[str, Any], *extra: str) -> Any:
        path = self.tmp_path / "receipt.json"
        path.write_text(json.dumps(receipt, ensure_ascii=False))
        return fundtrail("sqlite:///nowhere/unused.db", "verify-receipt", str(path), *extra)

    # Verification of the whole history.

    def test_an_untouched_history_verifies_with_a_one_line_summary(self) -> None:
        self.run("import", str(XIAOLIN))
        self.run("checkpoint")
        done = self.run("verify")
        assert 0 == done.returncode, done.stderr
        assert [
            "verified 25 events, 1 signed checkpoints and 3 allocations: the history was only ever appended to"
        ] == done.stdout.splitlines()

    def test_one_changed_byte_in_a_stored_event_is_named_by_its_sequence(self) -> None:
        tamperer = self.tamperer()
        sequence = tamperer.sequence_of(b'"donation_id":"DN2"')
        tamperer.set_state(sequence, tamperer.state(sequence).replace(b"300000", b"300009"))
        assert f"sequence {sequence}:" in self.verify_failure()

    def test_a_deleted_event_is_named_by_its_sequence(self) -> None:
        tamperer = self.tamperer()
        sequence = tamperer.sequence_of(b'"refund_id":"RF1"')
        tamperer.delete(sequence)
        assert f"sequence {sequence}:" in self.verify_failure()

    def test_two_swapped_events_are_named_by_the_first(self) -> None:
        tamperer = self.tamperer()
        tamperer.swap(9, 12)
        assert "sequence 9:" in self.verify_failure()

    def test_an_inserted_event_is_named_by_its_sequence(self) -> None:
        tamperer = self.tamperer()
        tamperer.insert_copy(at=7, of=6)
        assert "sequence 7:" in self.verify_failure()

    def test_a_rewritten_log_is_caught_by_the_signed_checkpoint(self) -> None:
        tamperer = self.tamperer()
        sequence = tamperer.sequence_of(b'"donation_id":"DN2"')
        tamperer.set_state(sequence, tamperer.state(sequence).replace(b"300000", b"300009"))
        self.rewrite_log_entry(sequence)
        failure = self.verify_failure()
        assert "signed tree of 25 no longer matches events 1..25" in failure

    @abstractmethod
    def rewrite_log_entry(self, sequence: int) -> None:
        """Recompute the logged leaf hash of `sequence` from the (tampered) store, as a careful intruder would."""

    def logged_hash_of_current_state(self, sequence: int) -> str:
        exported = [json.loads(line) for line in self.run("export", "--format", "events").stdout.splitlines()]
        return leaf_hash(leaf_bytes(exported[sequence - 1])).hex()

    # Receipts.

    def test_a_receipt_verifies_offline_and_its_proof_rebuilds_the_signed_root(self) -> None:
        receipt = self.receipt("DN2")
        done = self.check_receipt(receipt)
        assert 0 == done.returncode, done.stderr
        assert "DN2" in done.stdout
        root = root_from_audit_path(
            receipt["leaf_index"],
            receipt["tree_size"],
            leaf_hash(leaf_bytes(receipt["leaf"])),
            [bytes.fromhex(step) for step in receipt["inclusion_proof"]],
        )
        assert root.hex() == self.signed_root_hex(receipt["checkpoint"])

    @staticmethod
    def signed_root_hex(note: str) -> str:
        import base64

        return base64.b64decode(note.split("\n")[2]).hex()

    def test_a_receipt_with_a_changed_amount_fails(self) -> None:
        receipt = self.receipt("DN2")
        receipt["leaf"]["payload"]["amount_minor"] = 30_000_000
        done = self.check_receipt(receipt)
        assert 1 == done.returncode
        assert "does not hold" in done.stderr

    def test_a_receipt_checked_with_another_key_fails(self) -> None:
        receipt = self.receipt("DN2")
        other = self.tmp_path / "other.key"
        public = fundtrail(self.store(), "keys", "init", "--key-file", str(other), "--name", "test.example/ledger")
        done = self.check_receipt(receipt, "--public-key", public.stdout.strip())
        assert 1 == done.returncode
        assert "does not hold" in done.stderr

    def test_a_proof_for_another_tree_size_fails(self) -> None:
        older = self.receipt("DN2")
        self.run("import", str(self.more_commands()))
        self.run("checkpoint")
        newer = self.receipt("DN2")
        assert older["tree_size"] < newer["tree_size"]
        spliced = {**newer, "inclusion_proof": older["inclusion_proof"]}
        assert 1 == self.check_receipt(spliced).returncode
        assert 0 == self.check_receipt(newer).returncode

    def more_commands(self) -> Path:
        """A file of five more registrations, so that the tree grows past the first checkpoint."""
        lines = [{"type": "register_donor", "donor_id": f"LATE{number}", "anonymous": True} for number in range(5)]
        path = self.tmp_path / "more.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return path

    def test_a_receipt_for_an_unknown_donation_says_so(self) -> None:
        done = self.run("receipt", "DN404")
        assert 1 == done.returncode
        assert "unknown_donation" == output_json(done)["code"]

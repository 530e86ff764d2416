"""Each donor's AES-256-GCM key, in its own table: deleting the row makes that donor's name unreadable everywhere.

The sealed name is what the event stores, Kafka carries and exports write; the key never
leaves this table. Deleting is done with SQLite's secure_delete or followed by VACUUM on
PostgreSQL, so the key does not linger in free pages (backups are a separate matter: see
docs/OPERATIONS.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.database import Database

SCHEMA = "CREATE TABLE IF NOT EXISTS ft_donor_keys (donor_id TEXT PRIMARY KEY, key_material TEXT NOT NULL)"
PREFIX = "aesgcm1:"


class DonorKeyVault:
    """The PersonalDataVault of services.personal_data, on a table of the ledger's database."""

    def __init__(self, database: Database) -> None:
        self.database = database
        with database.transaction() as writer:
            writer.execute(SCHEMA)
            if database.dialect == "sqlite":
                writer.execute("PRAGMA secure_delete = ON")

    def _key(self, donor_id: str, create: bool) -> bytes | None:
        rows = self.database.query(
            "SELECT key_material FROM ft_donor_keys WHERE donor_id = :donor", {"donor": donor_id}
        )
        if rows:
            return base64.b64decode(rows[0]["key_material"])
        if not create:
            return None
        key = AESGCM.generate_key(bit_length=256)
        with self.database.transaction() as writer:
            writer.execute(
                "INSERT INTO ft_donor_keys (donor_id, key_material) VALUES (:donor, :key) ON CONFLICT DO NOTHING",
                {"donor": donor_id, "key": base64.b64encode(key).decode()},
            )
        return self._key(donor_id, create=False)

    def seal(self, donor_id: str, plaintext: str) -> str:
        key = self._key(donor_id, create=True)
        assert key is not None
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), donor_id.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, donor_id: str, sealed: str) -> str | None:
        """The plaintext, or None once the donor's key was deleted."""
        key = self._key(donor_id, create=False)
        if key is None or not sealed.startswith(PREFIX):
            return None
        raw = base64.b64decode(sealed[len(PREFIX) :])
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], donor_id.encode()).decode()
        except InvalidTag:
            return None

    def blind(self, donor_id: str, plaintext: str) -> str:
        """A keyed hash, so a command digest can tell a duplicate without keeping a guessable hash of the name."""
        key = self._key(donor_id, create=True)
        assert key is not None
        return hmac.new(key, plaintext.encode(), hashlib.sha256).hexdigest()

    def forget(self, donor_id: str) -> bool:
        found = bool(self._key(donor_id, create=False))
        with self.database.transaction() as writer:
            writer.execute("DELETE FROM ft_donor_keys WHERE donor_id = :donor", {"donor": donor_id})
        if self.database.dialect == "postgresql":
            self.database.query("VACUUM ft_donor_keys")
        return found

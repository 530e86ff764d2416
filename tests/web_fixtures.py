"""A served ledger for the HTTP tests: the xiaolin story, a second foundation, and a token for every role."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from infra.store import Stores, open_stores
from infra.tokens import TokenStore

XIAOLIN = Path(__file__).parent / "scenario" / "xiaolin" / "commands.jsonl"
OTHER_PARTIES = [
    {"type": "register_foundation", "foundation_id": "F-OTHER", "name": "另一基金会", "public_fundraising": True},
    {"type": "register_partner", "partner_id": "OTHER", "name": "另一社工机构"},
]
# role, party, holder's name
TOKENS = {
    "treasurer": ("treasurer", "F-RC", "rc-director"),
    "other_treasurer": ("treasurer", "F-OTHER", "other-director"),
    "partner": ("partner", "TX", "tx-caseworker"),
    "other_partner": ("partner", "OTHER", "other-caseworker"),
    "donor": ("donor", "D1", "donor-one"),
    "auditor": ("auditor", None, "auditor"),
    "public": ("public", None, "platform"),
}


@dataclass
class ServedLedger:
    stores: Stores
    tokens: dict[str, str]

    def bearer(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}

    def event_count(self) -> int:
        return self.stores.application.recorder.max_notification_id() or 0


def served_ledger(store_url: str) -> ServedLedger:
    stores = open_stores(store_url)
    commands = [json.loads(line) for line in XIAOLIN.read_text().splitlines() if line.strip()]
    stores.ledger.execute_batch([*commands, *OTHER_PARTIES])
    stores.catch_up()
    token_store = TokenStore(stores.database)
    tokens = {who: token_store.create(role, party, name) for who, (role, party, name) in TOKENS.items()}
    return ServedLedger(stores, tokens)

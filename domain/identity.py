"""Stable aggregate ids: one UUID per (kind, business id), so the store enforces uniqueness."""

from __future__ import annotations

from functools import lru_cache
from typing import Final
from uuid import UUID, uuid5

# Fixed for ever: changing it would orphan every stored aggregate.
LEDGER_NAMESPACE: Final = UUID("5b1f4a2e-8c3d-4e6f-9a0b-1c2d3e4f5a6b")


# A batch names the same parties and projects again and again; uuid5 is a SHA-1 each time.
@lru_cache(maxsize=200_000)
def aggregate_id(kind: str, business_id: str) -> UUID:
    """The id of the aggregate of `kind` that the contract calls `business_id`."""
    return uuid5(LEDGER_NAMESPACE, f"{kind}:{business_id}")

"""A project's state as plain values, so a large project loads without replaying all its events.

The format is the snapshot's shape 1 (`Project.SNAPSHOT_SHAPE`): change it only together
with that number, so that snapshots of the old shape are ignored rather than misread.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Final

from domain.lots import Disbursement, Lot

PROJECT_FIELDS = (
    "project_id",
    "foundation_id",
    "partner_id",
    "name",
    "currency",
    "opened_at",
    "command_digest",
    "closed_at",
)
TOTAL_FIELDS = (
    "donated_minor",
    "refunded_to_donors_minor",
    "paid_out_minor",
    "returned_by_payees_minor",
    "reserved_minor",
    "unspent_total_minor",
)
# A lot's position is its index in the list, so it is not stored.
LOT_FIELDS = ("donation_id", "donor_id", "amount_minor", "unspent_minor", "refunded_minor", "spent_minor")
# A lot's values as a tuple, read in C: for the largest project (504,054 lots) 0.22 s against
# 1.0-1.2 s for a getattr per field; a tuple is written as the same JSON array as a list.
_LOT_VALUES: Final = attrgetter(*LOT_FIELDS)
DISBURSEMENT_FIELDS = (
    "disbursement_id",
    "payee_id",
    "amount_minor",
    "requested_by",
    "status",
    "decision",
    "payout",
    "allocations",
    "returned_minor",
)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def snapshot_state(project: Any) -> dict[str, Any]:
    """Every attribute as JSON-ready values; each lot once (`lots` is rebuilt from `lot_order`)."""
    return {
        "project": [getattr(project, name) for name in PROJECT_FIELDS],
        "lots": list(map(_LOT_VALUES, project.lot_order)),
        "first_unspent_position": project.first_unspent_position,
        "reopened": list(project.reopened),
        "disbursements": [
            [_plain(getattr(item, name)) for name in DISBURSEMENT_FIELDS] for item in project.disbursements.values()
        ],
        "totals": [getattr(project, name) for name in TOTAL_FIELDS],
    }


def restore_snapshot_state(project: Any, state: dict[str, Any]) -> None:
    """The inverse of snapshot_state, on a project that has only its id, version and times set."""
    for name, value in zip(PROJECT_FIELDS, state["project"], strict=True):
        setattr(project, name, value)
    # Positional, in LOT_FIELDS order: the largest project has half a million lots, and a dict of
    # keywords per lot took three times as long. A row of the wrong length fails to unpack.
    project.lot_order = [
        Lot(donation_id, donor_id, position, amount, unspent, refunded, spent)
        for position, (donation_id, donor_id, amount, unspent, refunded, spent) in enumerate(state["lots"])
    ]
    project.lots = {lot.donation_id: lot for lot in project.lot_order}
    project.first_unspent_position = state["first_unspent_position"]
    project.reopened = list(state["reopened"])
    project.disbursements = {}
    for row in state["disbursements"]:
        fields = dict(zip(DISBURSEMENT_FIELDS, row, strict=True))
        fields["decision"] = tuple(fields["decision"])
        fields["payout"] = None if fields["payout"] is None else tuple(fields["payout"])
        disbursement = Disbursement(**fields)
        project.disbursements[disbursement.disbursement_id] = disbursement
    for name, value in zip(TOTAL_FIELDS, state["totals"], strict=True):
        setattr(project, name, value)

"""The import's floor in Python: what a donation costs in the steps this design cannot skip, each timed alone.

Every donation's line is read and validated (in one step, as the import reads it), the
donation digested and its id's claim key made. Then its event is
encoded and inserted with the claim (services.claims). These steps use the functions and the
store the import uses. Each step runs in a tight loop over the same donations, with nothing
else between its calls, so their sum is a lower bound. Deciding, the event objects, the
cache, asking the store which ids exist, the follower and the read model all come on top. At
that sum's rate, the import would do nothing but these steps on one core.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.commands import RecordDonation, command_digest, parse_command, parse_command_json
from domain.errors import DomainError
from domain.identity import aggregate_id
from domain.instants import isoformat
from domain.money import parse_amount
from domain.project import Project
from infra.line_reader import decode_line, numbered_lines
from services.claims import NewClaim, claim_key
from services.ledger import LedgerApplication
from services.limits import import_batch_max

# Donations timed per step: enough for steady figures, few enough to take seconds.
floor_donations_max = 40_000
# Each step but the insert runs this many times; the shortest run counts.
floor_repeats = 3

_DONATION_TOPIC = get_topic(Project.DonationReceived)


def donation_floor(commands_file: Path, folder: Path) -> dict[str, float]:
    """Microseconds a donation for each step, and their sum under "sum"; empty when the file has no donation."""
    lines, donations = [], []
    for raw in _donation_lines(commands_file):
        try:
            command = parse_command(decode_line(raw))
        except DomainError:  # a line the import rejects as it reads it is not a donation's work
            continue
        # Only a line the import reads in one step (nearly every donation's) is timed that way.
        if isinstance(command, RecordDonation) and parse_command_json(raw) == command:
            lines.append(raw)
            donations.append(command)
    if not lines:
        return {}
    application = LedgerApplication(
        env={"PERSISTENCE_MODULE": "infra.event_store:BatchedSQLiteFactory", "SQLITE_DBNAME": str(folder / "floor.db")}
    )
    try:
        encode = application.mapper.transcoder.encode
        states = [_state(donation) for donation in donations]
        donation_ids = [donation.donation_id for donation in donations]
        stored = _stored(donations, [encode(state) for state in states])
        claims = [
            NewClaim(claim_key("donation", donation.donation_id), donation.project_id, command_digest(donation))
            for donation in donations
        ]
        steps = {
            # One step, as the import reads a donation's line since change 105.
            "read and validate the line": _best(lambda: [parse_command_json(raw) for raw in lines]),
            "digest": _best(lambda: [command_digest(donation) for donation in donations]),
            "its claim's key": _best(lambda: [claim_key("donation", name) for name in donation_ids]),
            "encode the event": _best(lambda: [encode(state) for state in states]),
            "insert the event and the claim, commit each batch": _once(lambda: _insert(application, stored, claims)),
        }
    finally:
        application.close()
    per_donation = {step: seconds / len(lines) * 1e6 for step, seconds in steps.items()}
    per_donation["sum"] = sum(per_donation.values())
    return per_donation


def _donation_lines(commands_file: Path) -> list[bytes]:
    lines = []
    for _, raw in numbered_lines(commands_file):
        if b'"record_donation"' in raw:
            lines.append(raw)
            if len(lines) >= floor_donations_max:
                break
    return lines


def _state(donation: RecordDonation) -> dict[str, Any]:
    """The event's state as the library's mapper hands it to the transcoder, its timestamp included."""
    return {
        "timestamp": datetime.now(UTC),
        "project_id": donation.project_id,
        "donation_id": donation.donation_id,
        "donor_id": donation.donor_id,
        "amount_minor": parse_amount(donation.amount, donation.currency),
        "currency": donation.currency,
        "channel": donation.channel,
        "received_at": isoformat(donation.received_at),
        "external_ref": donation.external_ref,
    }


def _stored(donations: Sequence[RecordDonation], encoded: Sequence[bytes]) -> list[StoredEvent]:
    """The rows as the import writes them: each donation at its project's next version."""
    versions: dict[str, int] = {}
    stored = []
    for donation, received in zip(donations, encoded, strict=True):
        version = versions[donation.project_id] = versions.get(donation.project_id, 1) + 1
        stored.append(StoredEvent(aggregate_id("project", donation.project_id), version, _DONATION_TOPIC, received))
    return stored


def _insert(application: LedgerApplication, stored: Sequence[StoredEvent], claims: Sequence[NewClaim]) -> None:
    """The rows in the import's transactions: one a batch of commands (an event and a claim a donation)."""
    for start in range(0, len(stored), import_batch_max):
        batch = slice(start, start + import_batch_max)
        application.recorder.insert_events(stored[batch], claims=claims[batch])


def _best(step: Callable[[], object]) -> float:
    return min(_once(step) for _ in range(floor_repeats))


def _once(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def floor_figures(per_donation: dict[str, float]) -> dict[str, str]:
    """The floor as rows of the benchmark's table."""
    if not per_donation:
        return {}
    steps = ", ".join(f"{step} {micros:.1f}" for step, micros in per_donation.items() if step != "sum")
    total = per_donation["sum"]
    return {
        "Python floor of a donation (its steps alone, µs)": f"{total:.1f} µs: {steps}",
        "Python floor, donations/s on one core": f"{1e6 / total:,.0f}",
    }

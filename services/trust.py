"""Checkpoints, donor receipts and the auditor's verification of the whole history."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from domain.lots import give_back_last_first
from domain.project import Project
from projections import merkle
from projections.checkpoint import Checkpoint, CheckpointError
from projections.ledger_log import MalformedEvent, hashed_leaf, leaf_object
from services.limits import catch_up_page_max
from services.read_side import SelectNotifications


class Signer(Protocol):
    def sign(self, text: str) -> str: ...


class NoteOpener(Protocol):
    """Returns a signed note's text when the trusted key signed it; raises ValueError otherwise."""

    def __call__(self, note: str) -> str: ...


class LogStore(Protocol):
    def leaves(self) -> list[dict[str, Any]]: ...

    def leaf_hashes(self) -> list[str]:
        """The logged leaf hashes (hex) in sequence order: what verify compares, without the rest of each row."""
        ...

    def add_checkpoint(self, tree_size: int, note: str) -> None: ...

    def checkpoints(self) -> list[dict[str, Any]]: ...


class TrustError(Exception):
    """A receipt or checkpoint that cannot be made; the message says what to do."""


def stored_events(
    application: Application[UUID], select: SelectNotifications | None = None
) -> Iterator[tuple[int, Notification]]:
    """Every stored event with its gapless ledger sequence (1, 2, 3...) in commit order.

    `select` reads a page of stored events (the library's recorder when not given).
    """
    read = select or (lambda start, limit: application.recorder.select_notifications(start=start, limit=limit))
    sequence, start = 0, 1
    while True:
        page = read(start, catch_up_page_max)
        for notification in page:
            sequence += 1
            yield sequence, notification
        if len(page) < catch_up_page_max:
            return
        start = page[-1].id + 1


def sign_checkpoint(log: LogStore, signer: Signer, origin: str) -> str:
    """Sign the current tree head of the logged leaves and keep the signed note."""
    leaves = [bytes.fromhex(row["leaf_hash"]) for row in log.leaves()]
    if not leaves:
        raise TrustError("the ledger is empty: there is nothing to sign yet")
    note = signer.sign(Checkpoint(origin, len(leaves), merkle.root(leaves)).body())
    log.add_checkpoint(len(leaves), note)
    return note


def donation_receipt(application: Application[UUID], log: LogStore, position: int, public_key: str) -> dict[str, Any]:
    """The receipt of the event at store position `position`: leaf, proof and the newest checkpoint."""
    rows = log.leaves()
    index = next((row["sequence"] - 1 for row in rows if row["position"] == position), None)
    checkpoints = log.checkpoints()
    if index is None or not checkpoints or checkpoints[-1]["tree_size"] <= index:
        raise TrustError("no checkpoint covers this donation yet: run `fundtrail checkpoint` first")
    tree_size = int(checkpoints[-1]["tree_size"])
    hashes = [bytes.fromhex(row["leaf_hash"]) for row in rows[:tree_size]]
    notification = application.recorder.select_notifications(start=position, limit=1)[0]
    return {
        "leaf": leaf_object(index + 1, notification),
        "leaf_index": index,
        "tree_size": tree_size,
        "checkpoint": checkpoints[-1]["note"],
        "inclusion_proof": [step.hex() for step in merkle.inclusion_proof(index, hashes)],
        "public_key": public_key,
    }


def check_receipt(receipt: dict[str, Any], open_note: NoteOpener) -> str:
    """Check a receipt offline; returns what it proves, raises ValueError saying what does not hold."""
    try:
        leaf, index, proof = receipt["leaf"], int(receipt["leaf_index"]), receipt["inclusion_proof"]
        checkpoint = Checkpoint.parse(open_note(receipt["checkpoint"]))
        steps = [bytes.fromhex(step) for step in proof]
    except (KeyError, TypeError, CheckpointError) as error:
        raise ValueError(f"the receipt is malformed: {error}") from None
    if leaf.get("sequence") != index + 1:
        raise ValueError("the leaf's sequence does not match its index in the tree")
    if not merkle.verify_inclusion(index, checkpoint.tree_size, hashed_leaf(leaf), steps, checkpoint.root_hash):
        raise ValueError(
            f"the leaf is not entry {index + 1} of the signed tree of {checkpoint.tree_size}: "
            "the event or the proof was changed"
        )
    return f"entry {index + 1} of {checkpoint.tree_size} in {checkpoint.origin}, signed checkpoint holds"


@dataclass
class Verification:
    """What `verify` found: the first bad sequence and why, or the summary of a sound history."""

    events: int = 0
    checkpoints: int = 0
    allocations: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    ranges: list[tuple[int, str]] = field(default_factory=list)

    def fail(self, sequence: int, what: str) -> None:
        """A finding about one event: it names the exact sequence."""
        self.problems.append((sequence, what))

    def fail_from(self, sequence: int, what: str) -> None:
        """A finding about a stretch of history (a checkpoint that no longer matches) starting at `sequence`."""
        self.ranges.append((sequence, what))

    @property
    def first_problem(self) -> tuple[int, str] | None:
        """The earliest exact finding; a stretch only when no single event could be named."""
        if self.problems:
            return min(self.problems)
        return min(self.ranges) if self.ranges else None


@dataclass
class LeafCheck:
    """Every stored event's leaf recomputed and compared with the logged one."""

    events: int = 0
    recomputed: list[bytes] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    # How many logged leaves the events were compared with.
    logged: int = 0

    def add(self, sequence: int, notification: Notification, logged: list[str]) -> None:
        self.events = sequence
        try:
            hashed = hashed_leaf(leaf_object(sequence, notification))
        except MalformedEvent as error:
            self.problems.append((sequence, str(error)))
            hashed = b""
        self.recomputed.append(hashed)
        if sequence <= len(logged) and logged[sequence - 1] != hashed.hex():
            self.problems.append(
                (sequence, "the stored event differs from the one logged (modified, inserted or reordered)")
            )


def check_leaves(events: Iterable[tuple[int, Notification]], logged: list[str]) -> LeafCheck:
    """The leaf half of verify_history, on its own (a second process can do it meanwhile)."""
    check = LeafCheck(logged=len(logged))
    for sequence, notification in events:
        check.add(sequence, notification, logged)
    return check


def verify_history(
    application: Application[UUID],
    log: LogStore,
    open_note: NoteOpener,
    select: SelectNotifications | None = None,
    leaves: Callable[[], LeafCheck] | None = None,
) -> Verification:
    """Recompute every leaf and the tree, check every checkpoint and every stored allocation.

    `leaves`, when given, returns the leaf check of the same events done elsewhere; this
    function then replays the allocations only.
    """
    result = Verification()
    logged = log.leaf_hashes() if leaves is None else []
    check = LeafCheck(logged=len(logged))
    projects: dict[UUID, Project] = {}
    for sequence, notification in stored_events(application, select):
        result.events = sequence
        if leaves is None:
            check.add(sequence, notification, logged)
        _check_attribution(application, notification, sequence, projects, result)
    if leaves is not None:
        check = leaves()
        if check.events != result.events:
            # Both read the events stored when the verification began: only a change to the
            # stored history itself, meanwhile, makes them differ.
            result.fail(min(check.events, result.events) + 1, "the stored events changed while they were verified")
    result.problems.extend(check.problems)
    if result.events < check.logged:
        result.fail(result.events + 1, f"{check.logged - result.events} logged event(s) are missing from the store")
    _check_checkpoints(log.checkpoints(), check.recomputed, open_note, result)
    return result


def _check_attribution(
    application: Application[UUID],
    notification: Notification,
    sequence: int,
    projects: dict[UUID, Project],
    result: Verification,
) -> None:
    """Replay the attribution rules: each stored allocation must be what the rules give at that point."""
    if not notification.topic.startswith("domain.project:"):
        return
    try:
        event: Any = application.mapper.to_domain_event(notification)
        project = projects.get(event.originator_id)
        kind = type(event).__name__
        if kind == "PayoutSent" and project is not None:
            expected = project.oldest_first(event.amount_minor)
            result.allocations += 1
            if expected != [list(item) for item in event.allocations]:
                result.fail(sequence, f"payout {event.disbursement_id} allocations differ from oldest-first spending")
        elif kind == "PayeeRefundReceived" and project is not None:
            expected = give_back_last_first(project.disbursements[event.disbursement_id], event.amount_minor)
            result.allocations += 1
            if expected != [list(item) for item in event.allocations]:
                result.fail(sequence, f"payee refund {event.refund_id} gives back to other lots than the rules say")
        projects[event.originator_id] = event.mutate(project)
    except Exception as error:  # noqa: BLE001 - any failure to replay a stored event is a finding, not a crash
        result.fail(sequence, f"the event does not replay onto its project: {type(error).__name__}: {error}")


def _check_checkpoints(
    checkpoints: list[dict[str, Any]], recomputed: list[bytes], open_note: NoteOpener, result: Verification
) -> None:
    previous: Checkpoint | None = None
    for row in checkpoints:
        result.checkpoints += 1
        try:
            checkpoint = Checkpoint.parse(open_note(row["note"]))
        except ValueError as error:
            result.fail_from(int(row["tree_size"]), f"checkpoint at tree size {row['tree_size']}: {error}")
            continue
        size = checkpoint.tree_size
        if size > len(recomputed):
            result.fail_from(
                len(recomputed) + 1, f"checkpoint at tree size {size} covers events missing from the store"
            )
            continue
        if merkle.root(recomputed[:size]) != checkpoint.root_hash:
            start = previous.tree_size + 1 if previous else 1
            result.fail_from(start, f"the signed tree of {size} no longer matches events {start}..{size}")
        elif previous is not None:
            proof = merkle.consistency_proof(previous.tree_size, recomputed[:size])
            if not merkle.verify_consistency(previous.tree_size, size, previous.root_hash, checkpoint.root_hash, proof):
                result.fail_from(
                    previous.tree_size, f"checkpoint {size} does not extend checkpoint {previous.tree_size}"
                )
        previous = checkpoint

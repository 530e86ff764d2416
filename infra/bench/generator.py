"""A deterministic giving-day ledger: many projects, a long tail of small gifts, payouts over thousands of lots."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FULL_SIZE_COMMANDS = 1_000_000


def _day_time(step: int, total: int) -> str:
    """Times spread over the thirty days of April 2026, in ledger order."""
    seconds = int(step / max(total, 1) * 30 * 86_400)
    day, rest = divmod(seconds, 86_400)
    return f"2026-04-{day + 1:02d}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}+08:00"


def _yuan(amount_minor: int) -> str:
    return f"{amount_minor // 100}.{amount_minor % 100:02d}"


def commands(scale: float, seed: int = 2026) -> Iterator[dict[str, Any]]:
    """About `scale` x one million commands; the same seed always gives the same ledger."""
    chooser = random.Random(seed)  # noqa: S311 - a seeded, repeatable benchmark ledger, not a secret
    total = max(200, int(FULL_SIZE_COMMANDS * scale))
    projects = [f"P{number:04d}" for number in range(max(2, total // 10_000))]
    donors = [f"D{number:07d}" for number in range(max(10, total // 25))]
    payees = [f"H{number:03d}" for number in range(max(3, total // 5_000))]
    yield {"type": "register_foundation", "foundation_id": "F-BENCH", "name": "基准基金会", "public_fundraising": True}
    yield {"type": "register_partner", "partner_id": "PARTNER", "name": "执行方"}
    for payee in payees:
        yield {"type": "register_payee", "payee_id": payee, "name": f"医院 {payee}", "kind": "hospital"}
    for donor in donors:
        yield {"type": "register_donor", "donor_id": donor, "display_name": None, "anonymous": True}
    for project in projects:
        yield {
            "type": "open_project",
            "project_id": project,
            "foundation_id": "F-BENCH",
            "partner_id": "PARTNER",
            "name": f"项目 {project}",
            "currency": "CNY",
            "opened_at": "2026-04-01T00:00:00+08:00",
        }
    available = dict.fromkeys(projects, 0)
    donations: dict[str, list[tuple[str, int]]] = {project: [] for project in projects}
    paid: list[tuple[str, int]] = []
    step = len(payees) + len(donors) + len(projects) + 2
    while step < total:
        project = projects[min(int(chooser.paretovariate(1.2)) - 1, len(projects) - 1)]
        when = _day_time(step, total)
        roll = chooser.random()
        if roll < 0.95 or available[project] < 100_000:
            # The long tail: most gifts are 1 to 100 yuan, a few are large.
            amount = min(int(chooser.paretovariate(1.1) * 1_000), 50_000_000)
            donation_id = f"DN{step:08d}"
            donations[project].append((donation_id, amount))
            available[project] += amount
            yield {
                "type": "record_donation",
                "donation_id": donation_id,
                "donor_id": chooser.choice(donors),
                "project_id": project,
                "amount": _yuan(amount),
                "currency": "CNY",
                "channel": "online",
                "received_at": when,
            }
            step += 1
        elif roll < 0.985:
            # A payout that spends most of what the project holds: thousands of lots at full size.
            amount = available[project] * 9 // 10
            disbursement_id = f"DS{step:08d}"
            available[project] -= amount
            paid.append((disbursement_id, amount))
            yield {
                "type": "request_disbursement",
                "disbursement_id": disbursement_id,
                "project_id": project,
                "payee_id": chooser.choice(payees),
                "amount": _yuan(amount),
                "purpose": "治疗费用",
                "requested_by": "caseworker",
                "requested_at": when,
            }
            yield {
                "type": "approve_disbursement",
                "disbursement_id": disbursement_id,
                "approved_by": "treasurer",
                "approved_at": when,
            }
            yield {"type": "record_payout", "disbursement_id": disbursement_id, "paid_at": when}
            step += 3
        elif roll < 0.993 and paid:
            disbursement_id, amount = paid[chooser.randrange(len(paid))]
            returned = max(1, amount // 20)
            yield {
                "type": "record_payee_refund",
                "refund_id": f"RF{step:08d}",
                "disbursement_id": disbursement_id,
                "amount": _yuan(returned),
                "received_at": when,
            }
            step += 1
        elif donations[project]:
            donation_id, amount = donations[project][chooser.randrange(len(donations[project]))]
            yield {
                "type": "refund_donation",
                "refund_id": f"RD{step:08d}",
                "donation_id": donation_id,
                "amount": _yuan(max(1, amount // 2)),
                "reason": "donor request",
                "refunded_at": when,
            }
            step += 1


def write_commands(path: Path, scale: float, seed: int = 2026) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as stream:
        for command in commands(scale, seed):
            stream.write(json.dumps(command, ensure_ascii=False) + "\n")
            count += 1
    return count

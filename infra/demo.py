"""`fundtrail demo`: a two-project story on a fresh embedded ledger, shown from each party's side."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule

from infra import render
from infra.store import open_stores
from projections.reports import REPORTS

_T = "2026-03-{:02d}T{}:00+08:00"


def _at(day: int, clock: str = "10:00") -> str:
    return _T.format(day, clock)


def _donation(donation_id: str, donor_id: str, project_id: str, amount: str, day: int, channel: str) -> dict[str, Any]:
    return {
        "type": "record_donation",
        "donation_id": donation_id,
        "donor_id": donor_id,
        "project_id": project_id,
        "amount": amount,
        "currency": "CNY",
        "channel": channel,
        "received_at": _at(day),
        "external_ref": f"BK-{donation_id}",
    }


def _disbursement(
    disbursement_id: str, project_id: str, payee_id: str, amount: str, purpose: str, day: int
) -> list[dict[str, Any]]:
    return [
        {
            "type": "request_disbursement",
            "disbursement_id": disbursement_id,
            "project_id": project_id,
            "payee_id": payee_id,
            "amount": amount,
            "purpose": purpose,
            "requested_by": "tx-caseworker",
            "requested_at": _at(day, "09:00"),
        },
        {
            "type": "approve_disbursement",
            "disbursement_id": disbursement_id,
            "approved_by": "rc-treasurer",
            "approved_at": _at(day, "15:00"),
        },
        {
            "type": "record_payout",
            "disbursement_id": disbursement_id,
            "paid_at": _at(day + 1),
            "bank_ref": f"PAY-{disbursement_id}",
        },
    ]


STORY: list[dict[str, Any]] = [
    {"type": "register_foundation", "foundation_id": "F-RC", "name": "蓉城公益基金会", "public_fundraising": True},
    {"type": "register_partner", "partner_id": "TX", "name": "同行社会工作服务中心"},
    {"type": "register_payee", "payee_id": "H1", "name": "第一人民医院", "kind": "hospital"},
    {"type": "register_payee", "payee_id": "S1", "name": "山区希望小学", "kind": "school"},
    {"type": "register_donor", "donor_id": "D1", "display_name": "张女士", "anonymous": False},
    {"type": "register_donor", "donor_id": "D2", "display_name": "某企业工会", "anonymous": False},
    {"type": "register_donor", "donor_id": "D3", "anonymous": True},
    {
        "type": "open_project",
        "project_id": "P-XL",
        "foundation_id": "F-RC",
        "partner_id": "TX",
        "name": "小林医疗救助",
        "currency": "CNY",
        "opened_at": _at(1, "09:00"),
    },
    {
        "type": "open_project",
        "project_id": "P-BOOK",
        "foundation_id": "F-RC",
        "partner_id": "TX",
        "name": "山区图书角",
        "currency": "CNY",
        "opened_at": _at(1, "09:30"),
    },
    _donation("DN1", "D1", "P-XL", "500.00", 2, "bank_transfer"),
    _donation("DN2", "D2", "P-XL", "3000.00", 3, "bank_transfer"),
    _donation("DN3", "D3", "P-XL", "200.00", 3, "online"),
    _donation("DN4", "D1", "P-BOOK", "800.00", 4, "online"),
    *_disbursement("DS1", "P-XL", "H1", "2000.00", "住院押金 hospital deposit", 5),
    *_disbursement("DS2", "P-BOOK", "S1", "600.00", "图书 books", 6),
    # The partner asks to be paid itself: refused, the foundation pays hospitals directly.
    {
        "type": "request_disbursement",
        "disbursement_id": "DS9",
        "project_id": "P-XL",
        "payee_id": "TX",
        "amount": "100.00",
        "purpose": "交通 travel",
        "requested_by": "tx-caseworker",
        "requested_at": _at(7),
    },
    {
        "type": "record_payee_refund",
        "refund_id": "RF1",
        "disbursement_id": "DS1",
        "amount": "300.00",
        "received_at": _at(20, "16:00"),
        "bank_ref": "BK-0107",
    },
    {
        "type": "refund_donation",
        "refund_id": "RD1",
        "donation_id": "DN3",
        "amount": "200.00",
        "reason": "duplicate payment",
        "refunded_at": _at(21),
    },
    *_disbursement("DS2B", "P-XL", "H1", "1000.00", "出院结算 discharge bill", 25),
]


def run_demo(console: Console, store: str | None) -> int:
    with tempfile.TemporaryDirectory(prefix="fundtrail-demo-") as folder:
        url = store or f"sqlite:///{Path(folder) / 'demo.db'}"
        stores = open_stores(url)
        try:
            outcomes = stores.ledger.execute_batch(STORY)
            stores.catch_up()
            console.print(Rule("Fundtrail demo: medical aid and a school library, custody apart from use"))
            for command, outcome in zip(STORY, outcomes, strict=True):
                if outcome.status != "applied":
                    console.print(f"[yellow]{command['type']} refused[/]: {outcome.code}: {outcome.message}")
            sections = [
                ("The foundation sees its custody", "foundation", ["F-RC"]),
                ("The projects' balances", "project", ["P-XL", "P-BOOK"]),
                ("Each donor sees where the money went", "donor", ["D1", "D2", "D3"]),
                ("The hospital and the school see what they were paid", "payee", ["H1", "S1"]),
            ]
            for title, kind, ids in sections:
                console.print(Rule(title))
                for business_id in ids:
                    render.report(console, kind, REPORTS[kind](stores.read_model, business_id))
        finally:
            stores.close()
    return 0

"""The four reports of the contract (project, donor, payee, foundation), built from read-model queries."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Final, Protocol

from domain.errors import DomainError
from domain.money import format_amount

# "No --as-of": a moment later than any the ledger can hold (year 2262 in microseconds).
END_OF_TIME: Final = 2**63 - 1


class DonorSource(Protocol):
    """What a donor's trail is built from."""

    def has(self, kind: str, business_id: str) -> bool: ...

    def donor_donations(self, donor_id: str, as_of: int) -> list[dict[str, Any]]: ...

    def donor_spending(self, donor_id: str, as_of: int) -> list[dict[str, Any]]: ...


class ReportSource(Protocol):
    """The queries a read-model store answers; `as_of` is microseconds since the epoch (UTC)."""

    def project(self, project_id: str) -> dict[str, Any] | None: ...

    def project_figures(self, project_id: str, as_of: int) -> dict[str, int]: ...

    def has(self, kind: str, business_id: str) -> bool: ...

    def donor_donations(self, donor_id: str, as_of: int) -> list[dict[str, Any]]: ...

    def donor_spending(self, donor_id: str, as_of: int) -> list[dict[str, Any]]: ...

    def payee_totals(self, payee_id: str, as_of: int) -> list[dict[str, Any]]: ...

    def foundation_projects(self, foundation_id: str) -> list[dict[str, Any]]: ...

    def ids(self, kind: str) -> list[str]: ...

    def every_donor_donations(self) -> list[dict[str, Any]]: ...

    def every_donor_spending(self) -> list[dict[str, Any]]: ...


def _unknown(kind: str, business_id: str) -> DomainError:
    return DomainError(f"unknown_{kind}", f"no {kind} {business_id!r} in the ledger")


def project_balance_minor(figures: dict[str, int]) -> int:
    return figures["donated"] - figures["donor_refund"] - figures["payout"] + figures["payee_refund"]


def project_report(source: ReportSource, project_id: str, as_of: int = END_OF_TIME) -> dict[str, Any]:
    project = source.project(project_id)
    if project is None:
        raise _unknown("project", project_id)
    currency = project["currency"]
    figures = source.project_figures(project_id, as_of)
    balance = project_balance_minor(figures)
    closed_at = project["closed_at"]

    def money(amount_minor: int) -> str:
        return format_amount(amount_minor, currency)

    return {
        "project_id": project_id,
        "currency": currency,
        "status": "closed" if closed_at is not None and closed_at <= as_of else "open",
        "donated": money(figures["donated"]),
        "refunded_to_donors": money(figures["donor_refund"]),
        "paid_out": money(figures["payout"]),
        "returned_by_payees": money(figures["payee_refund"]),
        "balance": money(balance),
        "reserved": money(figures["reserved"]),
        "available": money(balance - figures["reserved"]),
        "donation_count": figures["donation_count"],
        "donor_count": figures["donor_count"],
    }


def donor_report(source: DonorSource, donor_id: str, as_of: int = END_OF_TIME) -> dict[str, Any]:
    if not source.has("donor", donor_id):
        raise _unknown("donor", donor_id)
    spending: dict[str, list[dict[str, Any]]] = defaultdict(list)
    refunded: dict[str, int] = defaultdict(int)
    for row in source.donor_spending(donor_id, as_of):
        if row["kind"] == "donor_refund":
            refunded[row["donation_id"]] += row["amount_minor"]
        elif row["amount_minor"] != 0:
            spending[row["donation_id"]].append(row)
    donations = []
    for donation in source.donor_donations(donor_id, as_of):
        donation_id, currency = donation["donation_id"], donation["currency"]
        spent = spending.get(donation_id, [])
        unspent = donation["amount_minor"] - refunded[donation_id] - sum(row["amount_minor"] for row in spent)
        donations.append(
            {
                "donation_id": donation_id,
                "project_id": donation["project_id"],
                "currency": currency,
                "amount": format_amount(donation["amount_minor"], currency),
                "unspent": format_amount(unspent, currency),
                "refunded": format_amount(refunded[donation_id], currency),
                "spent": [
                    {
                        "disbursement_id": row["disbursement_id"],
                        "payee_id": row["payee_id"],
                        "amount": format_amount(row["amount_minor"], currency),
                    }
                    for row in spent
                ],
            }
        )
    return {"donor_id": donor_id, "donations": donations}


def payee_report(source: ReportSource, payee_id: str, as_of: int = END_OF_TIME) -> dict[str, Any]:
    if not source.has("payee", payee_id):
        raise _unknown("payee", payee_id)
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"payout": 0, "payee_refund": 0})
    for row in source.payee_totals(payee_id, as_of):
        totals[row["currency"]][row["kind"]] += row["amount_minor"]
    return {
        "payee_id": payee_id,
        "totals": {
            currency: {
                "paid": format_amount(sums["payout"], currency),
                "returned": format_amount(sums["payee_refund"], currency),
                "net": format_amount(sums["payout"] - sums["payee_refund"], currency),
            }
            for currency, sums in sorted(totals.items())
        },
    }


def foundation_report(source: ReportSource, foundation_id: str, as_of: int = END_OF_TIME) -> dict[str, Any]:
    if not source.has("foundation", foundation_id):
        raise _unknown("foundation", foundation_id)
    custody: dict[str, int] = defaultdict(int)
    projects = source.foundation_projects(foundation_id)
    for project in projects:
        custody[project["currency"]] += project_balance_minor(source.project_figures(project["project_id"], as_of))
    return {
        "foundation_id": foundation_id,
        "custody": {currency: format_amount(total, currency) for currency, total in sorted(custody.items())},
        "projects": [project["project_id"] for project in projects],
    }


REPORTS: Final = {
    "project": project_report,
    "donor": donor_report,
    "payee": payee_report,
    "foundation": foundation_report,
}


class _OneDonor:
    """One donor's rows, taken from the queries over every donor: a donor report without two queries each."""

    def __init__(self, donations: list[dict[str, Any]], spending: list[dict[str, Any]]) -> None:
        self.donations, self.spending = donations, spending

    def has(self, kind: str, business_id: str) -> bool:
        return True

    def donor_donations(self, donor_id: str, as_of: int) -> list[dict[str, Any]]:
        return self.donations

    def donor_spending(self, donor_id: str, as_of: int) -> list[dict[str, Any]]:
        return self.spending


def _by_donor(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["donor_id"]].append(row)
    return grouped


def all_reports(source: ReportSource) -> dict[str, dict[str, Any]]:
    """Every report of every known id, sorted by kind and id: what a replay checksum covers.

    Donors are many, so their reports are built from two queries over all donors; each is
    the very report `donor_report` gives for that donor alone (a test compares them).
    """
    reports = {
        kind: {business_id: build(source, business_id) for business_id in sorted(source.ids(kind))}
        for kind, build in REPORTS.items()
        if kind != "donor"
    }
    donations, spending = _by_donor(source.every_donor_donations()), _by_donor(source.every_donor_spending())
    reports["donor"] = {
        donor_id: donor_report(_OneDonor(donations.get(donor_id, []), spending.get(donor_id, [])), donor_id)
        for donor_id in sorted(source.ids("donor"))
    }
    return {kind: reports[kind] for kind in REPORTS}

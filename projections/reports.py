"""The four reports of the contract (project, donor, payee, foundation), built from read-model queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any, Final, Protocol

from domain.errors import DomainError
from domain.money import format_amount

# Donor ids from the first up to (not including) the second; None leaves that side open.
DonorRange = tuple[str | None, str | None]

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

    def every_donor_donations(self, first: str | None = None, until: str | None = None) -> Iterable[Sequence[Any]]: ...

    def every_donor_spending(self, first: str | None = None, until: str | None = None) -> Iterable[Sequence[Any]]: ...

    def every_payee_totals(self) -> Iterable[Sequence[Any]]: ...


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
    return donor_trail(
        donor_id,
        [
            (row["donation_id"], row["project_id"], row["currency"], row["amount_minor"])
            for row in source.donor_donations(donor_id, as_of)
        ],
        [
            (row["donation_id"], row["kind"], row["disbursement_id"], row["payee_id"], row["amount_minor"])
            for row in source.donor_spending(donor_id, as_of)
        ],
    )


class AmountTexts(dict[str, dict[int, str]]):
    """format_amount by currency and amount, each amount written once: AmountTexts()[currency][amount_minor].

    Trails format three amounts or more per donation, most of them repeats (0.00 above all): a
    checksum at full size formats 3.6 million, of about 50,000 distinct values.
    """

    def __missing__(self, currency: str) -> dict[int, str]:
        texts = self[currency] = _Texts(currency)
        return texts


class _Texts(dict[int, str]):
    def __init__(self, currency: str) -> None:
        super().__init__()
        self.currency = currency

    def __missing__(self, amount_minor: int) -> str:
        text = self[amount_minor] = format_amount(amount_minor, self.currency)
        return text


_NOTHING_SPENT: Final[dict[tuple[str, str], int]] = {}


def donor_trail(
    donor_id: str,
    donations: Iterable[Sequence[Any]],
    spending: Iterable[Sequence[Any]],
    amounts: AmountTexts | None = None,
) -> dict[str, Any]:
    """The donor report from its rows: donations as (donation_id, project_id, currency, amount_minor), in
    ledger order; spending as (donation_id, kind, disbursement_id, payee_id, amount_minor), in ledger order.

    Spending may be movements as they are (kinds payout, payee_refund and donor_refund), or
    already summed by donation, disbursement and payee (donor_spending: payouts net of payee
    refunds, as kind payout): they are summed here, each sum where its first row came. A sum
    of zero (a payout the payee returned in full) is left out.
    `amounts` may be shared by many trails (a checksum builds every donor's).
    """
    texts = AmountTexts() if amounts is None else amounts
    spent_of: dict[str, dict[tuple[str, str], int]] = {}
    refunded: dict[str, int] = {}
    for donation_id, kind, disbursement_id, payee_id, amount_minor in spending:
        if kind == "donor_refund":
            refunded[donation_id] = refunded.get(donation_id, 0) + amount_minor
            continue
        sums = spent_of.get(donation_id)
        if sums is None:
            sums = spent_of[donation_id] = {}
        key = (disbursement_id, payee_id)
        sums[key] = sums.get(key, 0) + (-amount_minor if kind == "payee_refund" else amount_minor)
    trail = []
    for donation_id, project_id, currency, amount_minor in donations:
        money = texts[currency]
        given_back = refunded.get(donation_id, 0)
        unspent = amount_minor - given_back
        spent = []
        for (disbursement_id, payee_id), taken in spent_of.get(donation_id, _NOTHING_SPENT).items():
            if taken:
                unspent -= taken
                spent.append({"disbursement_id": disbursement_id, "payee_id": payee_id, "amount": money[taken]})
        trail.append(
            {
                "donation_id": donation_id,
                "project_id": project_id,
                "currency": currency,
                "amount": money[amount_minor],
                "unspent": money[unspent],
                "refunded": money[given_back],
                "spent": spent,
            }
        )
    return {"donor_id": donor_id, "donations": trail}


def payee_report(source: ReportSource, payee_id: str, as_of: int = END_OF_TIME) -> dict[str, Any]:
    if not source.has("payee", payee_id):
        raise _unknown("payee", payee_id)
    rows = source.payee_totals(payee_id, as_of)
    return payee_totals_report(payee_id, [(row["currency"], row["kind"], row["amount_minor"]) for row in rows])


def payee_totals_report(payee_id: str, rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """The payee report from its sums, as (currency, kind, amount_minor) of payouts and payee refunds."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"payout": 0, "payee_refund": 0})
    for currency, kind, amount_minor in rows:
        totals[currency][kind] += amount_minor
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


def _utf16_order(text: str) -> bytes:
    """RFC 8785 sorts object keys by their UTF-16 code units."""
    return text.encode("utf-16-be")


def each_report(
    source: ReportSource, kind: str, donors: DonorRange = (None, None)
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, report) for every known id of `kind`, in canonical key order, built one at a time.

    For donors, `donors` may narrow them to ids from its first up to (not including) its last.
    """
    ids = sorted(source.ids(kind), key=_utf16_order)
    if kind == "donor":
        first, until = donors
        if first is not None or until is not None:
            ids = [
                donor_id
                for donor_id in ids
                if (first is None or donor_id >= first) and (until is None or donor_id < until)
            ]
        yield from _each_donor_trail(source, ids, donors)
        return
    if kind == "payee":
        # Every payee's sums in one call: on PostgreSQL one query (full size: 0.13-0.16 s,
        # against 0.34-0.64 s for one a payee, at the end of every replay); SQLite answers it
        # a payee at a time, which it does faster (ReadModel.every_payee_totals).
        sums: dict[str, list[Sequence[Any]]] = {}
        for row in source.every_payee_totals():
            sums.setdefault(row[0], []).append(row[1:])
        for payee_id in ids:
            yield payee_id, payee_totals_report(payee_id, sums.get(payee_id, ()))
        return
    build = REPORTS[kind]
    for business_id in ids:
        yield business_id, build(source, business_id)


def _each_donor_trail(
    source: ReportSource, donor_ids: list[str], donors: DonorRange
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every donor trail from two queries over all donors, merged by donor as their rows stream in.

    The rows come sorted by the store's own order of ids. For ASCII ids (all that commands
    accept) it is the canonical order too; otherwise the rows are grouped in memory first.
    """
    if not donor_ids:
        # No query at all: on PostgreSQL, one for a range of no donors still costs 0.5 s at full size.
        return
    donations: Iterator[tuple[str, Iterable[Sequence[Any]]]] = groupby(
        source.every_donor_donations(*donors), itemgetter(0)
    )
    spending: Iterator[tuple[str, Iterable[Sequence[Any]]]] = groupby(
        source.every_donor_spending(*donors), itemgetter(0)
    )
    if not all(donor_id.isascii() for donor_id in donor_ids):
        by_donation = {donor_id: list(rows) for donor_id, rows in donations}
        by_spending = {donor_id: list(rows) for donor_id, rows in spending}
        donations = iter(sorted(by_donation.items(), key=lambda item: _utf16_order(item[0])))
        spending = iter(sorted(by_spending.items(), key=lambda item: _utf16_order(item[0])))
    given_rows, spent_rows = _Merged(donations), _Merged(spending)
    amounts = AmountTexts()
    for donor_id in donor_ids:
        yield donor_id, donor_trail(donor_id, given_rows.of(donor_id), spent_rows.of(donor_id), amounts)


class _Merged:
    """Groups of rows keyed by donor, taken in donor order; a group of an unknown donor is passed over."""

    def __init__(self, groups: Iterator[tuple[str, Iterable[Sequence[Any]]]]) -> None:
        self.groups = groups
        self.current = next(groups, None)

    def of(self, donor_id: str) -> list[Sequence[Any]]:
        wanted = _utf16_order(donor_id)
        while self.current is not None and _utf16_order(self.current[0]) < wanted:
            self.current = next(self.groups, None)
        if self.current is None or self.current[0] != donor_id:
            return []
        rows = [row[1:] for row in self.current[1]]
        self.current = next(self.groups, None)
        return rows


def all_reports(source: ReportSource) -> dict[str, dict[str, Any]]:
    """Every report of every known id, by kind and id: what a replay checksum covers.

    Donors are many, so their reports are built from two queries over all donors; each is
    the very report `donor_report` gives for that donor alone (a test compares them).
    """
    return {kind: dict(each_report(source, kind)) for kind in REPORTS}

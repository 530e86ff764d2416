"""The fast oldest-first allocation (a position and a heap of reopened lots) equals a scan of every lot."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.lots import allocate_oldest_first
from domain.project import Project

# Each step: (what, amount in minor units, which earlier item it picks).
steps = st.lists(
    st.tuples(
        st.sampled_from(["donate", "donate", "pay", "return", "refund"]),
        st.integers(1, 5_000),
        st.integers(0, 10_000),
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_payouts_take_what_a_scan_of_every_lot_would_take(plan: list[tuple[str, int, int]]) -> None:
    project = Project(
        project_id="P",
        foundation_id="F",
        partner_id="X",
        name="n",
        currency="CNY",
        opened_at="2026-01-01T00:00:00+08:00",
        command_digest="d",
    )
    paid: list[str] = []
    for number, (what, amount, pick) in enumerate(plan):
        try:
            if what == "donate":
                project.receive_donation(f"DN{number}", "D", amount, "CNY", "online", "2026-01-02T00:00:00+08:00", None)
            elif what == "pay":
                scanned = allocate_oldest_first(project.lot_order, [], 0, min(amount, project.available_minor))
                project.request_disbursement(f"DS{number}", "H", amount, "care", "a", "2026-01-03T00:00:00+08:00")
                project.approve_disbursement(f"DS{number}", "b", "2026-01-03T01:00:00+08:00")
                assert project.oldest_first(amount) == scanned
                project.record_payout(f"DS{number}", "2026-01-03T02:00:00+08:00", None)
                paid.append(f"DS{number}")
            elif what == "return" and paid:
                disbursement = paid[pick % len(paid)]
                project.record_payee_refund(f"R{number}", disbursement, amount, "2026-01-04T00:00:00+08:00", None)
            elif what == "refund" and project.lot_order:
                lot = project.lot_order[pick % len(project.lot_order)]
                project.refund_donation(f"RF{number}", lot.donation_id, amount, "asked", "2026-01-05T00:00:00+08:00")
        except DomainError:
            continue
    unspent = [lot.position for lot in project.lot_order if lot.unspent_minor > 0]
    # Every lot with money left is at or after the position, or known to the heap.
    assert all(position >= project.first_unspent_position or position in project.reopened for position in unspent)

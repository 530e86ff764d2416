"""The aggregate cache keeps what commands read again, and lets write-once aggregates go first."""

from __future__ import annotations

from domain.identity import aggregate_id
from domain.registry import Donor, IdentifierClaim
from services.ledger import LedgerApplication
from services.unit_of_work import UnitOfWork


def test_new_write_once_aggregates_leave_the_cache_before_those_read_again() -> None:
    application = LedgerApplication()
    work = UnitOfWork(application, cache_max=10)
    donor = Donor(donor_id="D1", sealed_display_name=None, anonymous=True, command_digest="d")
    work.changed(donor)
    work.commit()
    for number in range(50):
        if number % 20 == 0:
            # Read again after more new claims than the cache holds: still the cached object, not reloaded.
            assert work.get(Donor, donor.id) is donor
        work.changed(IdentifierClaim(kind="donation", identifier=f"DN{number}", project_id="P", command_digest="c"))
        work.commit()
    assert work.get(Donor, donor.id) is donor
    # The claims are all recorded, and the oldest are no longer held in memory.
    assert application.repository.get(aggregate_id("donation", "DN0")).version == 1
    assert len(work.unknown({aggregate_id("donation", f"DN{number}") for number in range(50)})) >= 40

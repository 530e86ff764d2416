"""The caches keep what commands read again, and let write-once aggregates and new claims go first."""

from __future__ import annotations

from domain.identity import aggregate_id
from domain.registry import Donor, Payee
from services.claims import Claim
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
            # Read again after more new aggregates than the cache holds: still the cached object, not reloaded.
            assert work.get(Donor, donor.id) is donor
        work.changed(Payee(payee_id=f"H{number}", name="医院", payee_kind="hospital", command_digest="c"))
        work.commit()
    assert work.get(Donor, donor.id) is donor
    # The payees are all recorded, and the oldest are no longer held in memory.
    assert application.repository.get(aggregate_id("payee", "H0")).version == 1
    assert len(work.unknown({aggregate_id("payee", f"H{number}") for number in range(50)})) >= 40


def test_new_claims_are_recorded_at_commit_and_the_cache_of_claims_stays_bounded() -> None:
    application = LedgerApplication()
    work = UnitOfWork(application, cache_max=10)
    for number in range(50):
        work.record_claim("donation", f"DN{number}", "P", f"digest {number}")
    # Nothing reaches the store before the commit.
    assert work.recorder.find_claims(["donation:DN0"]) == {}
    assert work.commit() == []  # claims alone record no event
    assert len(work.recorder.find_claims([f"donation:DN{number}" for number in range(50)])) == 50
    # Only cache_max claims stay in memory; the others are asked of the store, and found.
    assert len(work.unknown_claims({f"donation:DN{number}" for number in range(50)})) == 40
    assert work.claim("donation", "DN0") == Claim("P", "digest 0")
    assert work.claim("donation", "DN99") is None
    # A discarded batch's claims are never recorded.
    work.record_claim("refund", "RF1", "P", "r")
    work.discard()
    assert work.commit() == []
    assert work.claim("refund", "RF1") is None


def test_a_batchs_claims_are_known_before_its_commit_and_the_first_ones_stay_while_there_is_room() -> None:
    application = LedgerApplication()
    work = UnitOfWork(application, cache_max=10)
    keys = [f"donation:DN{number}" for number in range(15)]
    for number in range(15):
        work.record_claim("donation", f"DN{number}", "P", f"digest {number}")
    # Known to this batch before anything is recorded: a second command with the id finds the claim.
    assert work.unknown_claims(set(keys)) == set()
    assert work.claim("donation", "DN14") == Claim("P", "digest 14")
    work.commit()
    assert work.unknown_claims(set(keys)) == set(keys[10:])
    # The claims the store was asked for stay; a full cache keeps none of the next batch's own.
    work.note_claims({"refund:RF0": Claim("P", "r")}, {"refund:RF0"})
    work.record_claim("donation", "DN15", "P", "digest 15")
    work.commit()
    assert work.unknown_claims({"refund:RF0", "donation:DN15", *keys[:10]}) == {"donation:DN15", "donation:DN9"}

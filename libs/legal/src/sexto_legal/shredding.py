"""Erasing one data subject of a case by crypto-shredding: deleting its key, on the record.

The erasure is recorded on the case before the key is deleted, appended at the version the
hold was checked at: a hold placed meanwhile makes the append conflict and the check runs
again, so nothing is erased under a hold. A case whose chain is broken is not erased: its
record is evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

from nats.aio.client import Client
from sexto_events.catalogue.legal import ErasureReason, SubjectShredded
from sexto_events.commands import execute_on, no_state
from sexto_events.errors import EventLogError
from sexto_events.model import CaseRef, NewEvent
from sexto_events.personal import KeyVault
from sexto_events.principal import Principal
from sexto_events.store import EventStore

from sexto_legal.data_subjects import SUBJECT_KEY, family_of, sealed_subjects
from sexto_legal.erasure_records import trusted_erasures
from sexto_legal.holds import under_hold
from sexto_legal.locate import locate_case
from sexto_legal.stored_case import StoredCase, kind_of, read_stored

CASE_CLOSED = "intake.case_closed"


class UnderLegalHold(EventLogError):
    """Erasure refused: the case is under legal hold."""


class UnknownSubject(EventLogError):
    """The subject key names no data subject of any case's personal data."""


class CaseStillOpen(EventLogError):
    """Shredding a case's own key while the case is open (refused without force)."""


@dataclass(frozen=True, slots=True)
class ShredOutcome:
    """A subject erased: the case, and whether a key was still there to delete."""

    case: CaseRef
    subject_key: str
    key_existed: bool
    finished_earlier_erasure: bool = False
    # Erased with the subject: a student's parents registered as recipients on the case.
    family: tuple[str, ...] = ()


def _checked_erasable(case: CaseRef, found: StoredCase) -> None:
    if not found.chain.ok:
        raise EventLogError(
            f"the hash chain of case {case.case_id} is broken at position "
            f"{found.chain.position} ({found.chain.reason}): erasure is refused while the "
            f"record does not verify (sexto verify --case {case.case_id})"
        )
    if under_hold(found.raws):
        raise UnderLegalHold(
            f"case {case.case_id} is under legal hold: erasure is refused until a legal "
            "reviewer releases the hold (sexto legal-hold CASE off)"
        )


async def shred_subject(
    nc: Client,
    store: EventStore,
    vault: KeyVault,
    subject_key: str,
    principal: Principal,
    *,
    reason: ErasureReason,
    reference: str | None = None,
    force: bool = False,
) -> ShredOutcome:
    """Erase one data subject of a case (refused under legal hold), recorded on the case.

    The case's own key (case:<id>) seals data written while the case is open; erasing it
    makes every later write of such data fail, so it is refused on an open case unless
    `force`. An erasure already on record is finished (its key deleted), nothing more.
    """
    parsed = SUBJECT_KEY.match(subject_key)
    if parsed is None:
        raise UnknownSubject(
            f"{subject_key!r} is not a subject key: write case:<case id> or "
            "student:<case id>:<student ref>"
        )
    kind, case_id = parsed.group(1), parsed.group(2)
    case = await locate_case(nc, store.spec, case_id)

    # What the last decision found: the outcome, and the keys to delete once on record.
    verdict: list[ShredOutcome] = []

    async def decide(_: None, found: StoredCase) -> list[NewEvent]:
        verdict.clear()
        sealed = sealed_subjects(found.raws)
        if subject_key not in sealed:
            raise UnknownSubject(f"no personal data of {subject_key} in case {case.case_id}")
        family = tuple(sorted(k for k in family_of(found.raws, subject_key) if k in sealed))
        erased = trusted_erasures(found)
        later = tuple(k for k in family if k not in erased)  # not yet on record
        if subject_key in erased:
            # Decided and recorded before: finish it (a crash may have come in between). A
            # record after a break in the chain is not trusted: refused below as broken. A
            # parent registered since (or before family erasure existed) is erased now.
            if later:
                _checked_erasable(case, found)
            present = await vault.keys_for_reading(list(later))
            verdict.append(ShredOutcome(case, subject_key, False, True, family))
            return [_shredded(key, key in present) for key in later]
        _checked_erasable(case, found)
        closed = any(kind_of(raw) == CASE_CLOSED for raw in found.raws)
        if kind == "case" and not closed and not force:
            raise CaseStillOpen(
                f"case {case.case_id} is open: erasing {subject_key} makes every later write "
                "of personal data to the case fail; close the case first, or pass --force"
            )
        present = await vault.keys_for_reading([subject_key, *later])
        verdict.append(ShredOutcome(case, subject_key, subject_key in present, family=family))
        # One atomic append: the student and their family are erased together.
        return [_shredded(key, key in present) for key in (subject_key, *later)]

    def _shredded(key: str, existed: bool) -> NewEvent:
        data = SubjectShredded(
            subject_key=key, reason=reason, reference=reference, key_existed=existed
        )
        return NewEvent(data, principal.actor, principal.role)

    # Read raw: a broken chain is refused with its position, not hidden behind a load error.
    await execute_on(
        store, case, partial(read_stored, store), initial=None, evolve=no_state, decide=decide
    )
    outcome = verdict[0]
    # Only once the erasure is on record; one wait for every key's lease (KeyVault.shred).
    deleted, *_ = await vault.shred_all([subject_key, *outcome.family])
    if outcome.finished_earlier_erasure:
        return replace(outcome, key_existed=deleted)
    return outcome

"""Legal holds, erasure by crypto-shredding, and retention.

Every erasure is recorded on the case before the key is deleted, appended at the version
the hold was checked at: a hold placed meanwhile makes the append conflict, and the
check runs again, so nothing is erased under a hold. A run interrupted between the record
and the deletion is finished by running it again: once the erasure is on record, its keys
are deleted whatever happened since (a hold placed later came after the decision). Only a
record the case's hash chain verifies through is trusted so, and it deletes only keys that
seal data of that case: a forged or altered record erases nothing (the case is reported
with a broken chain). A case erased by retention whose data was sealed for a new subject
since (a recipient registered later) has that subject erased and recorded on the next run.

Holds and erasures are read from the stored events themselves, not through a verified
load, so a hold can be placed on a case whose chain is broken (that is when it is most
needed), while erasure of such a case is refused: its record is evidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.legal import (
    CaseErased,
    ErasureReason,
    HoldReason,
    LegalHoldPlaced,
    LegalHoldReleased,
    SubjectShredded,
)
from sexto_events.chain import ChainReport, verify_chain
from sexto_events.decode import parse_body
from sexto_events.envelope import parse_time
from sexto_events.errors import ConcurrencyConflict, EventLogError
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.personal import SEALED_MARK, KeyVault
from sexto_events.principal import Principal
from sexto_events.store import MAX_EVENTS_PER_APPEND, EventStore
from sexto_events.stream import StreamSpec

from sexto_legal.locate import locate_case
from sexto_legal.scan import scan

ATTEMPTS = 5
_SUBJECT_KEY = re.compile(r"^([a-z_]{1,32}):([A-Za-z0-9_-]{1,64})(?::([A-Za-z0-9_-]{1,64}))?$")


class UnderLegalHold(EventLogError):
    """Erasure refused: the case is under legal hold."""


class UnknownSubject(EventLogError):
    """The subject key names no data subject of any case's personal data."""


class RetentionSettings(BaseSettings):
    """Years personal data is kept after a case's closure, per protocol (its jurisdiction).

    Set SEXTO_RETENTION_YEARS='{"sexto-qc": 5, "uk-dsl": 6}'. The defaults are placeholders
    for development: the data controller sets the periods its law and policy require.
    """

    model_config = SettingsConfigDict(env_prefix="SEXTO_RETENTION_", extra="ignore")

    years: dict[str, int] = Field(default_factory=lambda: {"sexto-qc": 5, "uk-dsl": 6})


HOLD_PLACED = "legal.hold_placed"
HOLD_RELEASED = "legal.hold_released"
SUBJECT_SHREDDED = "legal.subject_shredded"
CASE_ERASED = "legal.case_erased"
CASE_CLOSED = "intake.case_closed"


class HoldMismatch(EventLogError):
    """A release that does not name the standing hold's reason and reference."""


class CaseStillOpen(EventLogError):
    """Shredding a case's own key while the case is open (refused without force)."""


def kind_of(raw: dict[str, Any]) -> str:
    """`context.event` of a stored envelope's type ("" when it has none)."""
    return ".".join(str(raw.get("type", "")).split(".")[2:4])


def _data(raw: dict[str, Any]) -> dict[str, Any]:
    data = raw.get("data")
    return data if isinstance(data, dict) else {}


def standing_hold(raws: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The envelope of the hold in force (the last placed, not released since), or None."""
    standing = None
    for raw in raws:
        if kind_of(raw) == HOLD_PLACED:
            standing = raw
        elif kind_of(raw) == HOLD_RELEASED:
            standing = None
    return standing


def under_hold(raws: list[dict[str, Any]]) -> bool:
    """True when the last hold placed on the case has not been released."""
    return standing_hold(raws) is not None


def _erased_keys(raw: dict[str, Any]) -> set[str]:
    """The subject keys an erasure record lists (none for other events)."""
    if kind_of(raw) == SUBJECT_SHREDDED:
        return {str(_data(raw).get("subject_key"))}
    if kind_of(raw) == CASE_ERASED:
        listed = _data(raw).get("subject_keys", [])
        return {str(k) for k in listed} if isinstance(listed, list) else set()
    return set()


def recorded_erasures(raws: list[dict[str, Any]]) -> set[str]:
    """Every subject key whose erasure is on the case's record (verified or not)."""
    return {key for raw in raws for key in _erased_keys(raw)}


@dataclass(frozen=True, slots=True)
class StoredCase:
    """A case as stored, parsed without verification: its envelopes, version and chain."""

    raws: list[dict[str, Any]]
    version: CaseVersion
    chain: ChainReport

    def verified_through(self, index: int) -> bool:
        """True when the chain verifies from the first event up to and including `index`."""
        return self.chain.position is None or index < self.chain.position

    def trusted_erasures(
        self, kinds: tuple[str, ...] = (SUBJECT_SHREDDED, CASE_ERASED)
    ) -> set[str]:
        """Subject keys of erasure records (of these kinds) the chain verifies through."""
        return {
            key
            for index, raw in enumerate(self.raws)
            if kind_of(raw) in kinds and self.verified_through(index)
            for key in _erased_keys(raw)
        }

    def untrusted_erasure(self, kinds: tuple[str, ...] = (SUBJECT_SHREDDED, CASE_ERASED)) -> bool:
        """True when an erasure record (of these kinds) lies at or after a break in the chain."""
        return any(
            kind_of(raw) in kinds and not self.verified_through(index)
            for index, raw in enumerate(self.raws)
        )


async def read_stored(store: EventStore, case: CaseRef) -> StoredCase:
    """The case's stored envelopes (an unreadable one as {}) and the version to append at."""
    stored = await store.read_raw(case)
    raws: list[dict[str, Any]] = []
    for message in stored:
        try:
            raws.append(parse_body(message.body))
        except EventLogError:
            raws.append({})
    version = (
        CaseVersion(stored[-1].seq, str(raws[-1].get("hash", ""))) if stored else CaseVersion.new()
    )
    return StoredCase(raws, version, verify_chain(raws, [m.body for m in stored]))


def sealed_subjects(raws: list[dict[str, Any]]) -> set[str]:
    """Every data subject whose key seals a value in these stored envelopes."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get(SEALED_MARK) is not None and isinstance(value.get("kid"), str):
                found.add(value["kid"])
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for raw in raws:
        walk(raw.get("data"))
    return found


async def set_legal_hold(
    store: EventStore,
    case: CaseRef,
    principal: Principal,
    *,
    on: bool,
    reason: HoldReason,
    reference: str | None,
) -> bool:
    """Place or release the hold; False when the case was already in that state.

    A release must name the standing hold's reason and reference: releasing a hold is a
    decision about that hold (that court file, that inquiry), not a switch.
    """
    for _ in range(ATTEMPTS):
        found = await read_stored(store, case)
        if not found.raws:
            raise EventLogError(f"case {case} has no events")
        standing = standing_hold(found.raws)
        if (standing is not None) == on:
            return False
        if standing is not None:
            held = _data(standing)
            if (held.get("reason"), held.get("reference")) != (reason.value, reference):
                raise HoldMismatch(
                    f"the hold on case {case.case_id} (placed {standing.get('time')}) is not "
                    f"for reason {reason.value} and reference {reference or '(none)'}: name "
                    f"the hold you release with --reason and --reference (sexto history "
                    f"{case.case_id} shows it)"
                )
        data: EventData = (
            LegalHoldPlaced(reason=reason, reference=reference)
            if on
            else LegalHoldReleased(reason=reason, reference=reference)
        )
        try:
            await store.append(case, [NewEvent(data, principal.subject, principal.role)],
                               found.version)  # fmt: skip
        except ConcurrencyConflict:
            continue
        return True
    raise ConcurrencyConflict(str(case), found.version.seq, None)


@dataclass(frozen=True, slots=True)
class ShredOutcome:
    """A subject erased: the case, and whether a key was still there to delete."""

    case: CaseRef
    subject_key: str
    key_existed: bool
    finished_earlier_erasure: bool = False


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
    parsed = _SUBJECT_KEY.match(subject_key)
    if parsed is None:
        raise UnknownSubject(
            f"{subject_key!r} is not a subject key: write case:<case id> or "
            "student:<case id>:<student ref>"
        )
    case = await locate_case(nc, store.spec, parsed.group(2))
    for _ in range(ATTEMPTS):
        found = await read_stored(store, case)
        if subject_key not in sealed_subjects(found.raws):
            raise UnknownSubject(f"no personal data of {subject_key} in case {case.case_id}")
        if subject_key in found.trusted_erasures():
            # Decided and recorded before: finish it (a crash may have come in between). A
            # record after a break in the chain is not trusted: refused below as broken.
            deleted = await vault.shred(subject_key)
            return ShredOutcome(case, subject_key, deleted, finished_earlier_erasure=True)
        _checked_erasable(case, found)
        closed = any(kind_of(raw) == CASE_CLOSED for raw in found.raws)
        if parsed.group(1) == "case" and not closed and not force:
            raise CaseStillOpen(
                f"case {case.case_id} is open: erasing {subject_key} makes every later write "
                "of personal data to the case fail; close the case first, or pass --force"
            )
        existed = bool(await vault.keys_for_reading([subject_key]))
        event = SubjectShredded(
            subject_key=subject_key, reason=reason, reference=reference, key_existed=existed
        )
        try:
            await store.append(case, [NewEvent(event, principal.subject, principal.role)],
                               found.version)  # fmt: skip
        except ConcurrencyConflict:
            continue
        await vault.shred(subject_key)
        return ShredOutcome(case, subject_key, existed)
    raise ConcurrencyConflict(str(case), found.version.seq, None)


@dataclass(frozen=True, slots=True)
class RetentionDecision:
    """What retention decided for one closed case."""

    case: CaseRef
    protocol: str
    closed_at: datetime
    due: datetime | None
    # erased | would_erase | kept_on_hold | not_due | no_policy | already_erased |
    # erasure_finished (an interrupted erasure's keys deleted) | would_finish_erasure |
    # chain_broken (not erased: the record does not verify) | failed (see `note`)
    action: str
    subject_keys: tuple[str, ...] = ()
    note: str = ""


def add_years(moment: datetime, years: int) -> datetime:
    """The same date `years` later (29 February becomes 1 March)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, month=3, day=1)


async def closed_cases(nc: Client, spec: StreamSpec) -> dict[CaseRef, datetime]:
    """Every closed case and the time of its last closure."""
    closed: dict[CaseRef, datetime] = {}
    async for msgs in scan(nc, spec, filters=[f"{spec.subject_root}.*.*.intake.case_closed"]):
        for msg in msgs:
            _, territory, case_id, *_ = msg.subject.split(".")
            try:
                when = parse_time(str(parse_body(msg.data)["time"]))
            except (EventLogError, KeyError, ValueError):
                when = datetime.min.replace(tzinfo=UTC)  # unreadable: retention will report it
            closed[CaseRef(territory, case_id)] = when
    return closed


async def retention_run(
    nc: Client,
    store: EventStore,
    vault: KeyVault,
    principal: Principal,
    *,
    settings: RetentionSettings,
    now: datetime,
    dry_run: bool,
    progress: Callable[[int, int], None] | None = None,
) -> list[RetentionDecision]:
    """Erase every case whose retention after closure has run out (not under hold)."""
    closed = await closed_cases(nc, store.spec)
    decisions = []
    for done, (case, closed_at) in enumerate(sorted(closed.items(), key=lambda i: i[1]), 1):
        try:
            decided = await _retain_or_erase(
                store, vault, principal, case, closed_at, settings, now, dry_run
            )
        except (EventLogError, ValueError) as exc:  # one case's trouble does not stop the others
            decided = RetentionDecision(case, "", closed_at, None, "failed", note=str(exc))
        decisions.append(decided)
        if progress is not None:
            progress(done, len(closed))
    return decisions


async def _retain_or_erase(
    store: EventStore,
    vault: KeyVault,
    principal: Principal,
    case: CaseRef,
    closed_at: datetime,
    settings: RetentionSettings,
    now: datetime,
    dry_run: bool,
) -> RetentionDecision:
    for _ in range(ATTEMPTS):
        found = await read_stored(store, case)
        raws = found.raws
        protocol = str(_data(raws[0]).get("protocol", "")) if raws else ""
        years = settings.years.get(protocol)
        due = add_years(closed_at, years) if years is not None else None
        keys = tuple(sorted(sealed_subjects(raws)))

        def decision(
            action: str,
            due: datetime | None = due,
            protocol: str = protocol,
            keys: tuple[str, ...] = keys,
            note: str = "",
        ) -> RetentionDecision:
            return RetentionDecision(case, protocol, closed_at, due, action, keys, note)

        broken_note = f"position {found.chain.position}: {found.chain.reason}"
        if any(kind_of(r) == CASE_ERASED for r in raws):
            # Decided and recorded: finish it whatever happened since (a hold placed later),
            # if the record verifies, and only for keys sealing this case's data.
            listed = found.trusted_erasures((CASE_ERASED,))
            own = {k for k in listed if k in keys and _case_part(k) == case.case_id}
            ignored = len(listed - own)
            note = f"{ignored} listed key(s) not of this case left alone" if ignored else ""
            remaining = sorted(await vault.keys_for_reading(sorted(own)))
            if remaining and not dry_run:
                for key in remaining:
                    await vault.shred(key)
            finished = "would_finish_erasure" if dry_run else "erasure_finished"
            if found.untrusted_erasure((CASE_ERASED,)):
                untrusted = f"an erasure record after the break; {broken_note}"
                return decision("chain_broken", keys=tuple(remaining), note=untrusted)
            late = tuple(sorted(set(keys) - found.trusted_erasures()))
            if not late:
                action = finished if remaining else "already_erased"
                return decision(action, keys=tuple(sorted(own)), note=note)
            # Sealed since the erasure (a subject registered later): erased in turn.
            if not found.chain.ok:
                return decision("chain_broken", keys=late, note=broken_note)
            if under_hold(raws):
                return decision("kept_on_hold", keys=late)
            if dry_run:
                return decision("would_erase", keys=late)
            try:
                await _record_case_erasure(store, principal, case, found, protocol, closed_at,
                                           years or 0, late)  # fmt: skip
            except ConcurrencyConflict:
                continue
            for key in late:
                await vault.shred(key)
            return decision("erased", keys=late, note=note)
        if not found.chain.ok:
            return decision("chain_broken", note=broken_note)
        if due is None:
            return decision("no_policy")
        if now < due:
            return decision("not_due")
        if under_hold(raws):
            return decision("kept_on_hold")
        if dry_run:
            return decision("would_erase")
        try:
            await _record_case_erasure(
                store, principal, case, found, protocol, closed_at, years or 0, keys
            )
        except ConcurrencyConflict:
            continue
        for key in keys:
            await vault.shred(key)
        return decision("erased")
    raise ConcurrencyConflict(str(case), found.version.seq, None)


def _case_part(subject_key: str) -> str | None:
    parsed = _SUBJECT_KEY.match(subject_key)
    return parsed.group(2) if parsed else None


KEYS_PER_RECORD = 200  # CaseErased.subject_keys holds at most this many


async def _record_case_erasure(
    store: EventStore,
    principal: Principal,
    case: CaseRef,
    found: StoredCase,
    protocol: str,
    closed_at: datetime,
    years: int,
    keys: tuple[str, ...],
) -> None:
    """Record the erasure of `keys`, split over as many events as needed, in one atomic append."""
    chunks = [keys[i : i + KEYS_PER_RECORD] for i in range(0, len(keys), KEYS_PER_RECORD)]
    events = [
        NewEvent(
            CaseErased(
                reason=ErasureReason.RETENTION_EXPIRED,
                protocol=protocol,
                closed_at=closed_at,
                retention_years=years,
                subject_keys=list(chunk),
            ),
            principal.subject,
            principal.role,
        )
        for chunk in chunks or [()]
    ]
    if len(events) > MAX_EVENTS_PER_APPEND:
        raise EventLogError(
            f"case {case.case_id} has {len(keys)} data subjects: more than one append can "
            f"record ({MAX_EVENTS_PER_APPEND * KEYS_PER_RECORD}); nothing was erased"
        )
    await store.append(case, events, found.version)

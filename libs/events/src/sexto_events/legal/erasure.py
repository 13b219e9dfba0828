"""Legal holds, erasure by crypto-shredding, and retention.

Every erasure is recorded on the case before the key is deleted, appended at the version
the hold was checked at: a hold placed meanwhile makes the append conflict, and the
check runs again, so nothing is erased under a hold. Deleting a key twice is harmless, so
a run interrupted between the record and the deletion is finished by running it again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nats.aio.client import Client
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sexto_events.auth.principal import Principal
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.legal import (
    CaseErased,
    ErasureReason,
    HoldReason,
    LegalHoldPlaced,
    LegalHoldReleased,
    SubjectShredded,
)
from sexto_events.errors import ConcurrencyConflict, EventLogError
from sexto_events.legal.locate import locate_case
from sexto_events.legal.scan import scan
from sexto_events.model import CaseRef, LoadedCase, NewEvent
from sexto_events.personal import SEALED_MARK, KeyVault
from sexto_events.store import EventStore
from sexto_events.stream import StreamSpec

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


def under_hold(events: list[EventData]) -> bool:
    """True when the last hold placed on the case has not been released."""
    held = False
    for data in events:
        if isinstance(data, LegalHoldPlaced):
            held = True
        elif isinstance(data, LegalHoldReleased):
            held = False
    return held


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


async def _raws(store: EventStore, case: CaseRef) -> list[dict[str, Any]]:
    return [json.loads(m.body) for m in await store.read_raw(case)]


async def set_legal_hold(
    store: EventStore,
    case: CaseRef,
    principal: Principal,
    *,
    on: bool,
    reason: HoldReason,
    reference: str | None,
) -> bool:
    """Place or release the hold; False when the case was already in that state."""
    for _ in range(ATTEMPTS):
        loaded = await store.load(case)
        if not loaded.events:
            raise EventLogError(f"case {case} has no events")
        if under_hold([e.data for e in loaded.events]) == on:
            return False
        data: EventData = (
            LegalHoldPlaced(reason=reason, reference=reference)
            if on
            else LegalHoldReleased(reason=reason, reference=reference)
        )
        try:
            await store.append(case, [NewEvent(data, principal.subject, principal.role)],
                               loaded.version)  # fmt: skip
        except ConcurrencyConflict:
            continue
        return True
    raise ConcurrencyConflict(str(case), loaded.version.seq, None)


@dataclass(frozen=True, slots=True)
class ShredOutcome:
    """A subject erased: the case, and whether a key was still there to delete."""

    case: CaseRef
    subject_key: str
    key_existed: bool


def _checked_hold(loaded: LoadedCase) -> None:
    if under_hold([e.data for e in loaded.events]):
        raise UnderLegalHold(
            f"case {loaded.case.case_id} is under legal hold: erasure is refused until a legal "
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
) -> ShredOutcome:
    """Erase one data subject of a case (refused under legal hold), recorded on the case."""
    parsed = _SUBJECT_KEY.match(subject_key)
    if parsed is None:
        raise UnknownSubject(
            f"{subject_key!r} is not a subject key: write case:<case id> or "
            "student:<case id>:<student ref>"
        )
    case = await locate_case(nc, store.spec, parsed.group(2))
    if subject_key not in sealed_subjects(await _raws(store, case)):
        raise UnknownSubject(f"no personal data of {subject_key} in case {case.case_id}")
    for _ in range(ATTEMPTS):
        loaded = await store.load(case)
        _checked_hold(loaded)
        existed = bool(await vault.keys_for_reading([subject_key]))
        event = SubjectShredded(
            subject_key=subject_key, reason=reason, reference=reference, key_existed=existed
        )
        try:
            await store.append(case, [NewEvent(event, principal.subject, principal.role)],
                               loaded.version)  # fmt: skip
        except ConcurrencyConflict:
            continue
        await vault.shred(subject_key)
        return ShredOutcome(case, subject_key, existed)
    raise ConcurrencyConflict(str(case), loaded.version.seq, None)


@dataclass(frozen=True, slots=True)
class RetentionDecision:
    """What retention decided for one closed case."""

    case: CaseRef
    protocol: str
    closed_at: datetime
    due: datetime | None
    action: str  # erased | would_erase | kept_on_hold | not_due | already_erased | no_policy
    subject_keys: tuple[str, ...] = ()


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
            raw = json.loads(msg.data)
            closed[CaseRef(territory, case_id)] = datetime.fromisoformat(
                str(raw["time"]).replace("Z", "+00:00")
            )
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
        decisions.append(
            await _retain_or_erase(store, vault, principal, case, closed_at, settings, now, dry_run)
        )
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
        loaded = await store.load(case)
        raws = await _raws(store, case)
        protocol = str(raws[0].get("data", {}).get("protocol", "")) if raws else ""
        years = settings.years.get(protocol)
        due = add_years(closed_at, years) if years is not None else None
        keys = tuple(sorted(sealed_subjects(raws)))

        def decision(
            action: str,
            due: datetime | None = due,
            protocol: str = protocol,
            keys: tuple[str, ...] = keys,
        ) -> RetentionDecision:
            return RetentionDecision(case, protocol, closed_at, due, action, keys)

        if due is None:
            return decision("no_policy")
        if any(isinstance(e.data, CaseErased) for e in loaded.events):
            return decision("already_erased")
        if now < due:
            return decision("not_due")
        if under_hold([e.data for e in loaded.events]):
            return decision("kept_on_hold")
        if dry_run:
            return decision("would_erase")
        erased = CaseErased(
            reason=ErasureReason.RETENTION_EXPIRED,
            protocol=protocol,
            closed_at=closed_at,
            retention_years=years or 0,
            subject_keys=list(keys),
        )
        try:
            await store.append(case, [NewEvent(erased, principal.subject, principal.role)],
                               loaded.version)  # fmt: skip
        except ConcurrencyConflict:
            continue
        for key in keys:
            await vault.shred(key)
        return decision("erased")
    raise ConcurrencyConflict(str(case), loaded.version.seq, None)

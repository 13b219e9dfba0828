"""Retention: how long personal data is kept after a case's closure, and the run that erases
every case whose time has run out.

A case's erasure is recorded before its keys are deleted, appended at the version the hold
was checked at, so nothing is erased under a hold. Once recorded it is finished on any later
run, whatever happened since (a hold placed later came after the decision), and only for
keys that seal that case's data. A case erased whose data was sealed for a new subject since
(a recipient registered later) has that subject erased and recorded on the next run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from nats.aio.client import Client
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sexto_events.catalogue.legal import CaseErased, ErasureReason
from sexto_events.commands import execute_on, no_state
from sexto_events.decode import parse_body
from sexto_events.envelope import parse_time
from sexto_events.errors import EventLogError
from sexto_events.model import CaseRef, NewEvent
from sexto_events.personal import KeyVault
from sexto_events.principal import Principal
from sexto_events.store import MAX_EVENTS_PER_APPEND, EventStore
from sexto_events.stream import StreamSpec

from sexto_legal.data_subjects import case_of_subject, sealed_subjects
from sexto_legal.erasure_records import CASE_ERASED, trusted_erasures, untrusted_erasure
from sexto_legal.holds import under_hold
from sexto_legal.scan import scan
from sexto_legal.stored_case import StoredCase, data_of, kind_of, read_stored

KEYS_PER_RECORD = 200  # CaseErased.subject_keys holds at most this many


class RetentionSettings(BaseSettings):
    """Years personal data is kept after a case's closure, per protocol (its jurisdiction).

    Set SEXTO_RETENTION_YEARS='{"sexto-qc": 5, "uk-dsl": 6}'. The defaults are placeholders
    for development: the data controller sets the periods its law and policy require.
    """

    model_config = SettingsConfigDict(env_prefix="SEXTO_RETENTION_", extra="ignore")

    years: dict[str, int] = Field(default_factory=lambda: {"sexto-qc": 5, "uk-dsl": 6})


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
    try:
        for done, (case, closed_at) in enumerate(sorted(closed.items(), key=lambda i: i[1]), 1):
            try:
                decided = await _retain_or_erase(
                    store, vault, principal, case, closed_at, settings, now, dry_run
                )
            except (EventLogError, ValueError) as exc:  # one case's trouble stops no other
                decided = RetentionDecision(case, "", closed_at, None, "failed", note=str(exc))
            decisions.append(decided)
            if progress is not None:
                progress(done, len(closed))
    finally:
        # One wait for the whole run, even one cut short by an error: every key erased is
        # unusable in every process once the shred-epoch lease has run out after the last
        # shred (KeyVault.shred).
        await vault.settled()
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
    # The last decision, and the keys to delete once its record (if any) is appended.
    plan: list[tuple[RetentionDecision, tuple[str, ...]]] = []

    async def decide(_: None, found: StoredCase) -> list[NewEvent]:
        plan.clear()
        raws = found.raws
        protocol = str(data_of(raws[0]).get("protocol", "")) if raws else ""
        years = settings.years.get(protocol)
        due = add_years(closed_at, years) if years is not None else None
        keys = tuple(sorted(sealed_subjects(raws)))
        shred: tuple[str, ...] = ()

        def decision(action: str, keys: tuple[str, ...] = keys, note: str = "") -> list[NewEvent]:
            plan.append(
                (RetentionDecision(case, protocol, closed_at, due, action, keys, note), shred)
            )
            return []

        def erase(erased: tuple[str, ...], note: str = "") -> list[NewEvent]:
            nonlocal shred
            shred = (*shred, *erased)
            decision("erased", keys=erased, note=note)
            return _case_erasure(principal, case, protocol, closed_at, years or 0, erased)

        broken_note = f"position {found.chain.position}: {found.chain.reason}"
        if any(kind_of(r) == CASE_ERASED for r in raws):
            # Decided and recorded: finish it whatever happened since (a hold placed later),
            # if the record verifies, and only for keys sealing this case's data.
            listed = trusted_erasures(found, (CASE_ERASED,))
            own = {k for k in listed if k in keys and case_of_subject(k) == case.case_id}
            ignored = len(listed - own)
            note = f"{ignored} listed key(s) not of this case left alone" if ignored else ""
            remaining = tuple(sorted(await vault.keys_for_reading(sorted(own))))
            if not dry_run:
                shred = remaining
            finished = "would_finish_erasure" if dry_run else "erasure_finished"
            if untrusted_erasure(found, (CASE_ERASED,)):
                untrusted = f"an erasure record after the break; {broken_note}"
                return decision("chain_broken", keys=remaining, note=untrusted)
            late = tuple(sorted(set(keys) - trusted_erasures(found)))
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
            return erase(late, note)
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
        return erase(keys)

    await execute_on(
        store, case, partial(read_stored, store), initial=None, evolve=no_state, decide=decide
    )
    decided, shred = plan[0]
    for key in shred:  # only once the erasure is on record; the run waits for the leases
        await vault.shred(key, settle=False)
    return decided


def _case_erasure(
    principal: Principal,
    case: CaseRef,
    protocol: str,
    closed_at: datetime,
    years: int,
    keys: tuple[str, ...],
) -> list[NewEvent]:
    """The record of the erasure of `keys`, split over as many events as one append takes."""
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
            principal.actor,
            principal.role,
        )
        for chunk in chunks or [()]
    ]
    if len(events) > MAX_EVENTS_PER_APPEND:
        raise EventLogError(
            f"case {case.case_id} has {len(keys)} data subjects: more than one append can "
            f"record ({MAX_EVENTS_PER_APPEND * KEYS_PER_RECORD}); nothing was erased"
        )
    return events

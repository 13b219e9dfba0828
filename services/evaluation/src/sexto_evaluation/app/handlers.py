"""Thin handlers: load the case from the log, decide, append grid and assessment at once."""

from __future__ import annotations

from dataclasses import dataclass, field

import uuid_utils
from sexto_events.catalogue.evaluation import (
    AssessmentMade,
    GridDraftSaved,
    GridSubmitted,
    GridWarning,
)
from sexto_events.commands import Decided, execute, fold
from sexto_events.ids import derived_event_id
from sexto_events.messages import Message
from sexto_events.model import (
    AppendResult,
    CaseRef,
    CaseVersion,
    LoadedCase,
    NewEvent,
    RecordedEvent,
)
from sexto_events.principal import CaseScope, Principal, can_see_case
from sexto_events.recording import record_read
from sexto_events.refusals import CaseNotFound
from sexto_protocols import ProtocolVersion, by_id
from sexto_protocols.grid import missing_fields
from sexto_service.runtime import ServiceRuntime

from sexto_evaluation.domain.decide import GridAnswers, InvalidGrid, decide_grid
from sexto_evaluation.domain.state import EvaluationState, evolve
from sexto_evaluation.domain.warnings import grid_warnings


@dataclass(frozen=True, slots=True)
class GridOutcome:
    """What a grid's request recorded, and what the intervener must still do."""

    event_ids: list[str]
    version: int
    complete: bool
    missing: list[str] = field(default_factory=list)
    warnings: list[GridWarning] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class GridStatus:
    """One student's grid as it stands: pending, a draft, complete, or complete with a newer
    draft of an amendment; the required fields the latest answers miss, and the warnings."""

    student_ref: str
    status: str
    missing: list[str]
    warnings: list[GridWarning]


def _protocol(state: EvaluationState) -> ProtocolVersion:
    protocol = by_id(state.protocol_version)
    if protocol is None:
        raise InvalidGrid(Message("protocol-version-unknown"))
    return protocol


async def visible_case(runtime: ServiceRuntime, principal: Principal, case_id: str) -> CaseRef:
    """The case if the caller may see it; NotFound otherwise (same as a missing one)."""
    async with runtime.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT territory, school_id FROM evaluation.cases WHERE case_id = $1", case_id
        )
    if row is None or not can_see_case(
        principal, CaseScope(row["school_id"], row["territory"], escalated=False)
    ):
        raise CaseNotFound(Message("case-not-found"))
    return CaseRef(row["territory"], case_id)


async def handle_grid(
    runtime: ServiceRuntime,
    principal: Principal,
    case_id: str,
    student_ref: str,
    grid: GridAnswers,
    key: str | None = None,
) -> GridOutcome:
    """Record a student's grid (a draft while required answers are missing), and the
    assessment if it completes the set.

    With an Idempotency-Key the grid's id derives from (case, caller, key): a retry finds
    its grid already on the record and records nothing.
    """
    case = await visible_case(runtime, principal, case_id)
    fresh_id = str(uuid_utils.uuid7())
    told: list[GridOutcome] = []

    def tell(state: EvaluationState, first: object) -> None:
        protocol = _protocol(state)
        told[:] = [
            GridOutcome(
                [],
                0,
                complete=isinstance(first, GridSubmitted),
                missing=list(first.missing) if isinstance(first, GridDraftSaved) else [],
                warnings=grid_warnings(protocol, state, student_ref, grid.answers),
            )
        ]

    def decide(state: EvaluationState, loaded: LoadedCase) -> Decided:
        grid_id = fresh_id
        if key is not None:
            grid_id = derived_event_id(loaded.events[0].id, f"grid|{principal.actor}|{key}")
            done = _already_recorded(loaded.events, grid_id)
            if done is not None:
                first = next(e.data for e in loaded.events if e.id == grid_id)
                tell(state, first)
                return done
        protocol = _protocol(state)
        decided = decide_grid(
            state,
            protocol,
            student_ref=student_ref,
            grid_id=grid_id,
            answers=grid.answers,
            notes=grid.notes,
            reason=grid.reason,
        )
        tell(state, decided[0])
        return [
            NewEvent(
                data,
                principal.actor,
                principal.role.value,
                event_id=grid_id if index == 0 else None,
                protocol_version=protocol.id,
            )
            for index, data in enumerate(decided)
        ]

    result = await execute(
        runtime.store, case, initial=EvaluationState(), evolve=evolve, decide=decide
    )
    outcome = told[0]
    return GridOutcome(
        result.event_ids, result.version.seq, outcome.complete, outcome.missing, outcome.warnings
    )


def _already_recorded(events: list[RecordedEvent], grid_id: str) -> AppendResult | None:
    """What the first request answered, if its grid is on the record already."""
    for index, event in enumerate(events):
        if event.id != grid_id:
            continue
        following = events[index + 1] if index + 1 < len(events) else None
        # An assessment written with the grid is the next event: atomic batches are contiguous.
        if (
            following is not None
            and following.seq == event.seq + 1
            and isinstance(following.data, AssessmentMade)
            and following.envelope.actor == event.envelope.actor
        ):
            return _answer([event, following])
        return _answer([event])
    return None


def _answer(events: list[RecordedEvent]) -> AppendResult:
    last = events[-1]
    version = CaseVersion(last.seq, last.envelope.hash)
    return AppendResult(version, [e.id for e in events], [e.seq for e in events], duplicate=True)


@dataclass(frozen=True, slots=True)
class AssessmentView:
    """The latest assessment (None before every complete grid is in) and the grids' state."""

    latest: RecordedEvent | None
    protocol_version: str
    pending: list[str]
    grids: list[GridStatus]


def grid_statuses(state: EvaluationState) -> list[GridStatus]:
    """Each student's grid as it stands, in the case's order of students."""
    protocol = by_id(state.protocol_version)
    statuses = []
    for ref in state.students:
        draft, grid = state.drafts.get(ref), state.grids.get(ref)
        if draft is not None:
            answers, missing = draft[1].answers, list(draft[1].missing)
            status = "amendment_draft" if grid is not None else "draft"
        elif grid is not None:
            answers, missing, status = grid[1].answers, [], "complete"
        else:
            answers, status = {}, "pending"
            missing = missing_fields(protocol, {}) if protocol else []
        warnings = grid_warnings(protocol, state, ref, answers) if protocol else []
        statuses.append(GridStatus(ref, status, missing, warnings))
    return statuses


async def latest_assessment(
    runtime: ServiceRuntime, principal: Principal, case_id: str
) -> AssessmentView:
    """The case's latest assessment and each student's grid as it stands."""
    case = await visible_case(runtime, principal, case_id)
    loaded = await runtime.store.load(case)
    state = fold(EvaluationState(), evolve, loaded.events)
    latest = next((e for e in reversed(loaded.events) if isinstance(e.data, AssessmentMade)), None)
    await record_read(runtime.store, principal, case, "assessment", "evaluation")
    pending = [ref for ref in state.students if ref not in state.grids]
    return AssessmentView(latest, state.protocol_version, pending, grid_statuses(state))

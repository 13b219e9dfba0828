"""Deciding a grid and, once every student has a complete one, the assessment: pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.evaluation import (
    Answer,
    AssessmentMade,
    GridDraftSaved,
    GridSubmitted,
    GridText,
    RuleFired,
    StudentIndication,
)
from sexto_events.messages import Message
from sexto_events.refusals import CaseAlreadyClosed, Invalid, UnknownStudent
from sexto_protocols import ProtocolVersion
from sexto_protocols.grid import missing_fields
from sexto_protocols.rules import answer_problems, evaluate, recommend
from sexto_protocols.tracks import Track, track_of

from sexto_evaluation.domain.state import EvaluationState
from sexto_evaluation.domain.warnings import grid_warnings


class InvalidGrid(Invalid):
    """A grid that does not fit the case's protocol version, or an amendment without reason."""

    kind = "invalid-grid"


@dataclass(frozen=True, slots=True)
class GridAnswers:
    """The command's content: a student's answers, notes in words, and why it is amended."""

    answers: Mapping[str, Answer]
    notes: Mapping[str, str]
    reason: str | None = None


def decide_grid(
    state: EvaluationState,
    protocol: ProtocolVersion,
    *,
    student_ref: str,
    grid_id: str,
    answers: Mapping[str, Answer],
    notes: Mapping[str, str],
    reason: str | None,
) -> list[EventData]:
    """A draft when required answers are missing; otherwise the grid, followed by the
    assessment when it completes the set."""
    if state.closed:
        raise CaseAlreadyClosed(Message("case-closed-grids"))
    if student_ref not in state.students:
        raise UnknownStudent(
            Message("unknown-student-grid", student_ref=student_ref, known=list(state.students))
        )
    fields = {f["id"]: f for f in protocol.raw["grid"]["fields"]}
    kinds = {name: field["kind"] for name, field in fields.items()}
    in_words = {k: v for k, v in notes.items() if kinds.get(k) == "text"}
    problems = answer_problems(protocol, {**answers, **in_words})
    problems += [f"{k}: not a field of this protocol version" for k in notes if k not in kinds]
    problems += [f"{k}: answer it in words, under notes" for k in answers if kinds.get(k) == "text"]
    if problems:
        raise InvalidGrid(
            Message("grid-does-not-fit", problems="; ".join(problems)), problems=problems
        )
    texts = [GridText(field=k, text=v) for k, v in sorted(notes.items())]
    missing = missing_fields(protocol, answers, in_words)
    draft = state.drafts.get(student_ref)
    if missing:
        # Saving a draft changes nothing in force: no reason asked, no assessment.
        return [
            GridDraftSaved(
                student_ref=student_ref,
                answers=dict(answers),
                texts=texts,
                missing=missing,
                supersedes=draft[0] if draft else None,
            )
        ]
    previous = state.grids.get(student_ref)
    if previous is not None and not reason:
        raise InvalidGrid(Message("amendment-needs-reason"))
    superseded = previous or draft
    grid = GridSubmitted(
        student_ref=student_ref,
        answers=dict(answers),
        texts=texts,
        supersedes=superseded[0] if superseded else None,
        reason=reason if previous else None,
    )
    graded = replace(state, grids={**state.grids, student_ref: (grid_id, grid)})
    if not all(ref in graded.grids for ref in state.students):
        return [grid]
    return [grid, assess(protocol, graded)]


def student_track(state: EvaluationState, student_ref: str, answers: Mapping[str, Answer]) -> Track:
    """The student's track from their roles and, where the grid asks it, their involvement."""
    involvement = answers.get("involvement", [])
    answered = [involvement] if isinstance(involvement, str) else involvement
    return track_of(state.roles.get(student_ref, ()), answered)


def assess(protocol: ProtocolVersion, state: EvaluationState) -> AssessmentMade:
    """Each student's track and indication, the case's recommendation, and the warnings."""
    indications = []
    evaluations = []
    warnings = []
    for ref in state.students:
        grid_id, grid = state.grids[ref]
        track = student_track(state, ref, grid.answers)
        result = evaluate(protocol, grid.answers, track)
        evaluations.append(result)
        warnings += grid_warnings(protocol, state, ref, grid.answers)
        indications.append(
            StudentIndication(
                student_ref=ref,
                grid_event_id=grid_id,
                track=track.value,
                indication=result.indication.value,
                urgency=result.urgency.name.lower(),
                escalate=result.escalate,
                fired=[
                    RuleFired(rule_id=f.rule_id, field=f.field, read=list(f.read), fr=f.fr, en=f.en)
                    for f in result.fired
                ],
            )
        )
    recommendation = recommend(protocol, evaluations)
    return AssessmentMade(
        students=indications,
        recommendation=recommendation.code,
        urgency=recommendation.urgency.name.lower(),
        recommendation_fr=recommendation.fr,
        recommendation_en=recommendation.en,
        warnings=warnings,
    )

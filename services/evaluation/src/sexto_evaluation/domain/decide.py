"""Deciding a grid and, once every student has one, the assessment: pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.evaluation import (
    Answer,
    AssessmentMade,
    GridSubmitted,
    GridText,
    RuleFired,
    StudentIndication,
)
from sexto_events.messages import Message
from sexto_events.refusals import CaseAlreadyClosed, Invalid, UnknownStudent
from sexto_protocols import ProtocolVersion
from sexto_protocols.rules import answer_problems, evaluate, recommend

from sexto_evaluation.domain.state import EvaluationState


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
    """The grid event, followed by the assessment when it completes the set."""
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
    previous = state.grids.get(student_ref)
    if previous is not None and not reason:
        raise InvalidGrid(Message("amendment-needs-reason"))
    grid = GridSubmitted(
        student_ref=student_ref,
        answers=dict(answers),
        texts=[GridText(field=k, text=v) for k, v in sorted(notes.items())],
        supersedes=previous[0] if previous else None,
        reason=reason if previous else None,
    )
    grids = {**state.grids, student_ref: (grid_id, grid)}
    if not all(ref in grids for ref in state.students):
        return [grid]
    return [grid, assess(protocol, state.students, grids)]


def assess(
    protocol: ProtocolVersion,
    students: tuple[str, ...],
    grids: Mapping[str, tuple[str, GridSubmitted]],
) -> AssessmentMade:
    """Indications per student and the case's recommendation."""
    indications = []
    evaluations = []
    for ref in students:
        grid_id, grid = grids[ref]
        result = evaluate(protocol, grid.answers)
        evaluations.append(result)
        indications.append(
            StudentIndication(
                student_ref=ref,
                grid_event_id=grid_id,
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
    )

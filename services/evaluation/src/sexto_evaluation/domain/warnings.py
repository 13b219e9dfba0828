"""What the intervener must look at on a student's grid: pure, never settled silently.

- the reported ages (intake's report or added student) make the age-gap factor `yes` or
  `no` (the protocol version's definition of "significant"), and the grid answers
  otherwise: `age_gap_differs`;
- the reported age falls in another band than the grid's: `age_band_differs`;
- intake found the student in an earlier case of the territory (by the keyed index of the
  school's student number): `prior_involvement_found`, whatever the grid answers, naming
  the field to answer and what it answers now. The answer is the intervener's to give.
"""

from __future__ import annotations

from collections.abc import Mapping

from sexto_events.catalogue.evaluation import Answer, GridWarning
from sexto_protocols import ProtocolVersion
from sexto_protocols.ages import age_band_field, age_gap_field, band_of, derived_age_gap
from sexto_protocols.grid import prior_involvement_answer

from sexto_evaluation.domain.state import EvaluationState

TEXTS: Mapping[str, tuple[str, str]] = {
    "age_gap_differs": (
        "Les âges déclarés au dossier ne concordent pas avec la réponse sur l'écart d'âge : "
        "vérifiez-la.",
        "The ages reported on the case do not match the age-gap answer: check it.",
    ),
    "age_band_differs": (
        "L'âge déclaré au dossier ne tombe pas dans la tranche d'âge répondue : vérifiez-la.",
        "The age reported on the case is not in the age band answered: check it.",
    ),
    "prior_involvement_found": (
        "Élève déjà impliqué dans un dossier antérieur (reconnu par son numéro d'élève de "
        "l'école) : répondez à la question sur les incidents antérieurs en conséquence.",
        "Student involved in an earlier case (recognised by the school's student number): "
        "answer the prior-incidents question accordingly.",
    ),
}


def _warning(
    code: str, student_ref: str, field: str | None, expected: str | None, answered: Answer | None
) -> GridWarning:
    fr, en = TEXTS[code]
    return GridWarning(
        code=code,
        student_ref=student_ref,
        field=field,
        expected=expected,
        answered=answered,
        fr=fr,
        en=en,
    )


def grid_warnings(
    protocol: ProtocolVersion,
    state: EvaluationState,
    student_ref: str,
    answers: Mapping[str, Answer],
) -> list[GridWarning]:
    """The warnings on one student's answers (a draft's, a grid's, or none yet)."""
    found = []
    gap_field = age_gap_field(protocol)
    gap = derived_age_gap(protocol, student_ref, state.ages)
    if gap_field and gap is not None and gap_field in answers and answers[gap_field] != gap:
        found.append(_warning("age_gap_differs", student_ref, gap_field, gap, answers[gap_field]))
    band_field = age_band_field(protocol)
    band = band_of(protocol, state.ages.get(student_ref))
    if band_field and band is not None and band_field in answers and answers[band_field] != band:
        found.append(
            _warning("age_band_differs", student_ref, band_field, band, answers[band_field])
        )
    if student_ref in state.earlier_cases:
        prior = prior_involvement_answer(protocol)
        field, value = prior if prior else (None, None)
        answered = answers.get(field) if field else None
        found.append(_warning("prior_involvement_found", student_ref, field, value, answered))
    return found

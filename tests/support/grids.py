"""SEXTO grid answers of the three kinds of student in a report (tests, bench, chaos)."""

from __future__ import annotations

IMPULSIVE = {
    "trigger": "romantic_relationship",
    "intentions": ["romantic_exchange"],
    "distribution_reach": "one_person",
    "still_spreading": "no",
    "involvement": ["sent"],
    "coercion_or_threats": "no",
    "prior_incidents": "no",
    # The report's students are 14, 15 and 15: one band, no significant gap.
    "age_band": "14_15",
    "significant_age_gap": "no",
    "vulnerability": "no",
}
DEPICTED = {**IMPULSIVE, "involvement": ["depicted"]}  # the depicted student's grid
MALICIOUS = {
    **IMPULSIVE,
    "intentions": ["revenge"],
    "distribution_reach": "class_or_school",
    "involvement": ["redistributed"],
}

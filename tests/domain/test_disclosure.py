"""Who sees what (no server): every field has a class, the table decides, one walker applies it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sexto_events.catalogue import CATALOGUE
from sexto_events.catalogue.escalation import EscalationRequested, KitCollected
from sexto_events.catalogue.intake import CaseReported
from sexto_events.catalogue.notification import RecipientRegistered
from sexto_events.disclosure import (
    POLICY,
    POLICY_VERSION,
    DataClass,
    Pseudonymiser,
    Treatment,
    Viewer,
    age_band,
    disclose,
    grade_band,
    policy_document,
    policy_markdown,
    unclassified_fields,
    withheld,
)
from sexto_events.envelope import Envelope, disclose_event
from sexto_events.principal import Role

PSEUDONYMS = Pseudonymiser(b"analysis-key-for-tests-32-bytes!")
HIDDEN = withheld()

REPORT: dict[str, Any] = {
    "protocol": "sexto-qc",
    "school_id": "school-canary",
    "discovered_at": "2026-12-01T08:00:00Z",
    "discovery_channel": "student_disclosure",
    "summary": "Summary-canary in words",
    "students": [
        {"student_ref": "s-canary", "roles": ["sender"], "age": 14, "grade": "Secondaire 3",
         "name": "Zoé Inventée"},
    ],
}  # fmt: skip


def viewer(role: Role) -> Viewer:
    return Viewer(role, PSEUDONYMS)


@pytest.mark.parametrize("cls", CATALOGUE.types(), ids=lambda c: c.type_name())
def test_every_field_of_every_event_declares_its_class(cls: type) -> None:
    assert unclassified_fields(cls) == []


def test_the_envelope_declares_a_class_for_every_attribute_but_its_data() -> None:
    assert unclassified_fields(Envelope) == ["data"]


def test_the_table_has_a_row_for_every_role_and_a_cell_for_every_class() -> None:
    assert set(POLICY) == set(Role)
    for row in POLICY.values():
        assert set(row) == set(DataClass)


def test_given_an_intervener_when_a_report_is_disclosed_then_everything_is_shown() -> None:
    assert disclose(viewer(Role.INTERVENER), CaseReported, REPORT, "c-1") == REPORT


def test_given_police_dispatch_then_no_name_and_no_narrative_but_the_references() -> None:
    shown = disclose(viewer(Role.POLICE_DISPATCH), CaseReported, REPORT, "c-1")

    assert shown["summary"] == HIDDEN
    student = shown["students"][0]
    assert student["name"] == HIDDEN
    assert student["age"] == HIDDEN
    assert student["grade"] == HIDDEN
    assert (student["student_ref"], student["roles"]) == ("s-canary", ["sender"])
    assert shown["school_id"] == "school-canary"


def test_given_an_analyst_then_references_are_keyed_pseudonyms_and_ages_bands() -> None:
    shown = disclose(viewer(Role.ANALYST), CaseReported, REPORT, "c-1")

    student = shown["students"][0]
    assert student["student_ref"] == PSEUDONYMS.name("student", "c-1:s-canary")
    assert student["age"] == "14_15"
    assert student["grade"] == "grades_9_10"
    assert student["name"] == HIDDEN
    assert shown["summary"] == HIDDEN
    assert shown["school_id"] == PSEUDONYMS.name("school", "school-canary")
    assert shown["protocol"] == "sexto-qc"  # jurisdiction: analysts count by territory


def test_pseudonyms_are_stable_under_one_key_and_unrelated_across_keys() -> None:
    other = Pseudonymiser(b"another-analysis-key-32-bytes!!!")
    again = Pseudonymiser(b"analysis-key-for-tests-32-bytes!")

    assert again.name("case", "c-1") == PSEUDONYMS.name("case", "c-1")
    assert other.name("case", "c-1") != PSEUDONYMS.name("case", "c-1")
    assert "c-1" not in PSEUDONYMS.name("case", "c-1")


def test_a_school_admin_sees_outcomes_and_references_not_the_grid_or_the_names() -> None:
    shown = disclose(viewer(Role.SCHOOL_ADMIN), CaseReported, REPORT, "c-1")

    assert shown["students"][0]["name"] == HIDDEN
    assert shown["students"][0]["age"] == HIDDEN
    assert shown["students"][0]["roles"] == ["sender"]


def test_police_dispatch_gets_the_intervener_to_call_back_but_no_other_staff_id() -> None:
    requested = {
        "school_id": "school-1", "protocol": "sexto-qc", "urgency": "urgent",
        "students": [{"student_ref": "s1", "role": "sender", "indication": "malicious"}],
        "seal_numbers": ["SEAL-1"], "intervener_ref": "int-canary",
        "assessment_event_id": "e-1",
    }  # fmt: skip
    kit = {
        "officer_ref": "officer-canary", "seals": [{"seal_number": "SEAL-1", "intact": True}],
        "missing_seals": [], "unexpected_seals": [], "flagged": False,
    }  # fmt: skip
    dispatch = viewer(Role.POLICE_DISPATCH)

    assert disclose(dispatch, EscalationRequested, requested)["intervener_ref"] == "int-canary"
    assert disclose(dispatch, KitCollected, kit)["officer_ref"] == HIDDEN
    assert disclose(dispatch, KitCollected, kit)["seals"][0]["intact"] is True


def test_contacts_reach_the_officers_who_meet_the_parents_never_dispatch_or_the_dpcp() -> None:
    parent = {"recipient_ref": "r1", "kind": "parent", "student_ref": "s1",
              "email": "parent@example.org"}  # fmt: skip

    officer = disclose(viewer(Role.POLICE_OFFICER), RecipientRegistered, parent, "c-1")
    assert officer["email"] == "parent@example.org"
    for role in (Role.POLICE_DISPATCH, Role.PROSECUTOR, Role.ANALYST, Role.SCHOOL_ADMIN):
        assert disclose(viewer(role), RecipientRegistered, parent, "c-1")["email"] == HIDDEN


def test_a_sealed_value_is_never_shown_even_to_a_role_that_sees_its_class() -> None:
    sealed = {**REPORT, "summary": {"$sealed": "A256GCM", "kid": "case:c-1", "iv": "x", "ct": "y"}}

    assert disclose(viewer(Role.INTERVENER), CaseReported, sealed, "c-1")["summary"] == HIDDEN


def test_an_erased_value_reads_as_erased_to_those_shown_it_and_withheld_to_others() -> None:
    erased = {**REPORT, "summary": {"erased": True}}

    assert disclose(viewer(Role.INTERVENER), CaseReported, erased)["summary"] == {"erased": True}
    assert disclose(viewer(Role.POLICE_DISPATCH), CaseReported, erased)["summary"] == HIDDEN


def test_a_field_the_model_does_not_declare_is_withheld() -> None:
    assert disclose(viewer(Role.INTERVENER), CaseReported, {"smuggled": "x"}) == {
        "smuggled": HIDDEN
    }


def test_a_role_without_pseudonyms_gets_withheld_where_it_would_get_a_pseudonym() -> None:
    shown = disclose(Viewer(Role.ANALYST), CaseReported, REPORT, "c-1")

    assert shown["school_id"] == HIDDEN


def test_an_event_is_disclosed_attribute_by_attribute_and_its_data_by_its_type() -> None:
    raw = {
        "specversion": "1.0", "id": "e-1", "source": "sexto/intake",
        "type": CaseReported.type_name(), "subject": "c-canary", "time": "2026-12-01T08:00:00Z",
        "datacontenttype": "application/json", "data": REPORT, "territory": "spvm",
        "actor": "staff-canary", "actorrole": "intervener", "correlationid": "e-1",
        "causationid": "e-1", "prevhash": "", "hash": "h-canary",
    }  # fmt: skip

    analyst = disclose_event(viewer(Role.ANALYST), raw, CaseReported)
    dispatch = disclose_event(viewer(Role.POLICE_DISPATCH), raw, CaseReported)
    unknown = disclose_event(viewer(Role.LEGAL_REVIEWER), raw, None)

    assert analyst["subject"] == PSEUDONYMS.name("case", "c-canary")
    assert analyst["actor"] == PSEUDONYMS.name("person", "staff-canary")
    assert "h-canary" not in str(analyst)
    assert analyst["territory"] == "spvm"
    assert dispatch["actor"] == HIDDEN
    assert dispatch["data"]["summary"] == HIDDEN
    assert unknown["data"] == HIDDEN


@pytest.mark.parametrize(
    ("grade", "band"),
    [("Secondaire 3", "grades_9_10"), ("sec 5", "grades_11_plus"), ("Year 10", "grades_9_10"),
     ("grade 8", "grades_7_8"), ("7", "grades_7_8"), ("Zoé's class", HIDDEN), ("Year 40", HIDDEN)],
)  # fmt: skip
def test_a_grade_reaches_analysts_as_a_band_or_not_at_all(grade: str, band: object) -> None:
    assert grade_band(grade) == band


@pytest.mark.parametrize(
    ("age", "band"),
    [(11, "under_12"), (12, "12_13"), (13, "12_13"), (17, "16_17"), (19, "18_plus")],
)
def test_an_age_reaches_analysts_as_a_two_year_band(age: int, band: str) -> None:
    assert age_band(age) == band


def test_the_published_document_is_the_table_and_its_version() -> None:
    document = policy_document()

    assert document["version"] == POLICY_VERSION
    assert document["placeholder"] == HIDDEN
    assert document["roles"]["police_dispatch"]["identity"] == Treatment.WITHHELD.value
    assert document["roles"]["analyst"]["reference"] == Treatment.PSEUDONYMISED.value


def test_the_documented_table_is_the_table() -> None:
    documented = (Path(__file__).parents[2] / "docs" / "disclosure.md").read_text()

    assert policy_markdown() in documented
    assert f"(version {POLICY_VERSION})" in documented

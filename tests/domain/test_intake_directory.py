"""The directory's rules without any server: an entry is recorded as given, or refused
saying why (a duplicate id, an unknown territory, dates that contradict each other)."""

from __future__ import annotations

from datetime import date

import pytest
from sexto_events.catalogue.directory import (
    AgreementRecorded,
    Jurisdiction,
    Language,
    SchoolRegistered,
    TerritoryRegistered,
)
from sexto_events.catalogue.registry import CATALOGUE
from sexto_intake.domain.directory import Known, decide_entry
from sexto_intake.domain.errors import (
    AlreadyRegistered,
    InvalidDirectoryEntry,
    UnknownTerritory,
)

SCHOOL = SchoolRegistered(
    school_id="school-042", name="École fictive", territory_id="spvm", language=Language.FR
)


def agreement(start: date, end: date | None) -> AgreementRecorded:
    return AgreementRecorded(
        agreement_id="mou-1",
        territory_id="spvm",
        signed_on=date(2023, 9, 1),
        in_force_from=start,
        in_force_to=end,
    )


def test_an_entry_naming_a_known_territory_is_recorded_as_given() -> None:
    known = Known("school-042", taken=False, territory_id="spvm", territory_known=True)

    assert decide_entry(SCHOOL, known) == SCHOOL


def test_an_entry_in_an_unknown_territory_is_refused_naming_it() -> None:
    known = Known("school-042", taken=False, territory_id="nowhere", territory_known=False)

    with pytest.raises(UnknownTerritory) as error:
        decide_entry(SCHOOL, known)

    assert error.value.kind == "unknown-territory"
    assert "nowhere" in error.value.detail


def test_a_duplicate_id_is_a_conflict() -> None:
    with pytest.raises(AlreadyRegistered) as error:
        decide_entry(SCHOOL, Known("school-042", taken=True, territory_id="spvm"))

    assert error.value.kind == "already-registered"
    assert "school-042" in error.value.detail


def test_an_agreement_ending_before_it_starts_is_refused() -> None:
    known = Known("mou-1", taken=False, territory_id="spvm")

    with pytest.raises(InvalidDirectoryEntry) as error:
        decide_entry(agreement(date(2025, 1, 1), date(2024, 12, 31)), known)

    assert "2024-12-31" in error.value.detail
    assert "2025-01-01" in error.value.detail


@pytest.mark.parametrize("end", [None, date(2025, 1, 1), date(2030, 6, 30)])
def test_an_agreement_open_ended_or_of_one_day_or_more_is_recorded(end: date | None) -> None:
    entry = agreement(date(2025, 1, 1), end)

    assert decide_entry(entry, Known("mou-1", taken=False, territory_id="spvm")) == entry


def test_a_territory_registered_before_jurisdictions_reads_as_quebec() -> None:
    stored = {"territory_id": "spvm", "name": "Service de police fictif"}

    type_name, data = CATALOGUE.upcast("org.sexto.directory.territory_registered.v1", stored)

    assert type_name == TerritoryRegistered.type_name()
    assert TerritoryRegistered(**data).jurisdiction is Jurisdiction.QC

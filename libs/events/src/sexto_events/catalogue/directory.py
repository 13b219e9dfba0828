"""Events of the directory: territories, agreements with the DPCP, schools, interveners.

Kept on their own stream (DIRECTORY), so whether an agreement was in force on the day of
an incident can be answered for any past case. No personal data: ids and institutions.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from sexto_events.catalogue.base import EventData, SchoolId, StaffRef, TerritoryId
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.disclosure import DataClass, class_marker, classed

Label = Annotated[
    str, Field(min_length=1, max_length=200, json_schema_extra=class_marker(DataClass.JURISDICTION))
]
"""An institution's name (a territory, a school): public, never a person's."""


class Language(StrEnum):
    """The language a school works in."""

    FR = "fr"
    EN = "en"


class Jurisdiction(StrEnum):
    """The law a territory's schools work under: it names the protocols they may use."""

    QC = "qc"
    ENGLAND = "england"


class CertificationLevel(StrEnum):
    """Levels of the SEXTO online training."""

    EXPLORER = "explorer"
    ARCHITECT = "architect"


@CATALOGUE.declare("directory", "territory_registered", 1)
class TerritoryRegisteredV1(EventData):
    """First shape of a territory (no jurisdiction): kept only to read events written in it."""

    territory_id: TerritoryId
    name: Label


@CATALOGUE.declare("directory", "territory_registered", 2)
class TerritoryRegistered(EventData):
    """A police force's territory, and the jurisdiction its schools work under."""

    territory_id: TerritoryId
    name: Label
    jurisdiction: Jurisdiction = classed(DataClass.JURISDICTION)


@CATALOGUE.upcaster(TerritoryRegisteredV1, TerritoryRegistered)
def _territory_registered_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # Before jurisdictions were declared the directory served the SEXTO roll-out: its
    # territories were Quebec police forces (their agreements are with Quebec's DPCP).
    data["jurisdiction"] = Jurisdiction.QC.value
    return data


@CATALOGUE.declare("directory", "agreement_recorded", 1)
class AgreementRecorded(EventData):
    """A memorandum of understanding between a police force and the DPCP."""

    agreement_id: str = classed(
        DataClass.JURISDICTION, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"
    )
    territory_id: TerritoryId
    signed_on: date = classed(DataClass.JURISDICTION)
    in_force_from: date = classed(DataClass.JURISDICTION)
    in_force_to: date | None = classed(DataClass.JURISDICTION, default=None)


@CATALOGUE.declare("directory", "school_registered", 1)
class SchoolRegistered(EventData):
    """A school, in a territory, working in French or English."""

    school_id: SchoolId
    name: Label
    territory_id: TerritoryId
    language: Language = classed(DataClass.JURISDICTION)


@CATALOGUE.declare("directory", "intervener_certified", 1)
class IntervenerCertified(EventData):
    """A school intervener (pseudonymous id) completed the SEXTO training."""

    intervener_id: StaffRef
    school_id: SchoolId
    level: CertificationLevel = classed(DataClass.RECORD)
    certified_on: date = classed(DataClass.RECORD)

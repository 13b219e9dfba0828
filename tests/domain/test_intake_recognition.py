"""Recognising a student seen before, and custody recorded late: pure rules, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sexto_events.catalogue.intake import DeviceSecured, LateCustody, PriorInvolvementNoted
from sexto_events.catalogue.registry import CATALOGUE
from sexto_intake.domain.cases import CLOCK_SKEW
from sexto_intake.domain.custody import check_secured_in_past
from sexto_intake.domain.errors import InvalidCommand
from sexto_intake.domain.recognition import blind_index, decide_prior_involvement, index_key_id

KEY_A, KEY_B = bytes(range(32)), bytes(range(1, 33))
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def test_the_same_number_gives_the_same_index_within_a_territory_only() -> None:
    first = blind_index(KEY_A, "A-123456")

    assert blind_index(KEY_A, "A-123456") == first
    assert blind_index(KEY_A, " a-123 456 ") == first  # as schools type it
    assert blind_index(KEY_A, "A-123457") != first
    assert blind_index(KEY_B, "A-123456") != first  # another territory's key


def test_the_index_never_holds_the_number() -> None:
    index = blind_index(KEY_A, "123456")

    assert "123456" not in index
    assert len(index) == 64


def test_each_territory_has_a_key_of_its_own() -> None:
    assert index_key_id("spvm") != index_key_id("spvl")
    assert index_key_id("spvm").startswith("student_index:")


def test_students_found_in_earlier_cases_are_noted_and_only_they() -> None:
    noted = decide_prior_involvement({"stu-1": 2, "stu-2": 0, "stu-3": 1})

    assert noted == [
        PriorInvolvementNoted(student_ref="stu-1", earlier_cases=2),
        PriorInvolvementNoted(student_ref="stu-3", earlier_cases=1),
    ]
    assert decide_prior_involvement({}) == []


def late(at: datetime) -> DeviceSecured:
    part = LateCustody(secured_at=at, secured_by="iv-7", reason="bag found in the office")
    return DeviceSecured(owner_ref="stu-1", measure="switched_off", seal_number="B-9", late=part)


def test_a_device_secured_earlier_may_be_recorded_late() -> None:
    check_secured_in_past(late(NOW - timedelta(days=2)), NOW)
    check_secured_in_past(late(NOW + CLOCK_SKEW), NOW)  # a clock a little ahead


def test_a_device_cannot_be_said_secured_in_the_future() -> None:
    with pytest.raises(InvalidCommand) as error:
        check_secured_in_past(late(NOW + CLOCK_SKEW + timedelta(seconds=1)), NOW)

    assert error.value.kind == "invalid-command"


def test_a_device_of_the_earlier_shapes_reads_as_recorded_when_secured() -> None:
    stored = {"owner_ref": "stu-1", "switched_off": True, "seal_number": "B-1"}

    type_name, data = CATALOGUE.upcast("org.sexto.intake.device_secured.v1", stored)

    assert type_name == DeviceSecured.type_name() == "org.sexto.intake.device_secured.v3"
    device = DeviceSecured(**data)
    assert (device.measure, device.seal_number, device.late) == ("switched_off", "B-1", None)

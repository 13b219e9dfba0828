"""The protocol files' completeness and age checks, and the tracks in the rules: pure."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sexto_protocols import ProtocolVersion, all_versions, current
from sexto_protocols.ages import band_of, derived_age_gap, significant_gap
from sexto_protocols.grid import missing_fields, prior_involvement_answer, required_fields
from sexto_protocols.rules import Indication, Urgency, evaluate
from sexto_protocols.tracks import Track

SEXTO = current("sexto-qc")
UK = current("uk-dsl")
V1 = {p.name: p for p in all_versions() if p.version == 1}
LATEST = [p for p in all_versions() if p.version > 1]


def fields(protocol: ProtocolVersion) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in protocol.raw["grid"]["fields"]}


def test_the_version_1_files_are_unchanged_so_their_cases_still_find_them() -> None:
    """The content hash is the version's id, recorded on every event of its cases (the old
    log of tests/fixtures holds these): a changed file would orphan them."""
    assert V1["sexto-qc"].id == (
        "sha256:82f1beff8b9e09115631bb0902df69fb292160a4ced484b7dcdfa395d7926c92"
    )
    assert V1["uk-dsl"].id == (
        "sha256:c74f89e45c0567ddd3398944394e1963835d17fd2a8e42704b1eba77709948e9"
    )
    assert required_fields(V1["sexto-qc"]) == required_fields(V1["uk-dsl"]) == []


def test_new_cases_are_reported_under_version_2() -> None:
    assert (SEXTO.version, UK.version) == (2, 2)
    assert SEXTO.raw["changes"]["fr"]
    assert SEXTO.raw["changes"]["en"]


@pytest.mark.parametrize("protocol", LATEST, ids=lambda p: f"{p.name}.v{p.version}")
def test_every_field_says_whether_it_is_required(protocol: ProtocolVersion) -> None:
    assert all(isinstance(f.get("required"), bool) for f in protocol.raw["grid"]["fields"])
    assert required_fields(protocol)


@pytest.mark.parametrize("protocol", LATEST, ids=lambda p: f"{p.name}.v{p.version}")
def test_the_checks_name_fields_and_values_of_their_version(protocol: ProtocolVersion) -> None:
    known = fields(protocol)
    checks = protocol.raw["checks"]
    assert checks["age_gap"]["field"] in known
    assert checks["age_gap"]["fr"]
    assert checks["age_gap"]["en"]
    prior = prior_involvement_answer(protocol)
    assert prior is not None
    assert prior[1] in known[prior[0]]["values"]
    if "age_band" in checks:
        bands = [b["value"] for b in checks["age_band"]["bands"]]
        assert set(bands) <= set(known[checks["age_band"]["field"]]["values"])
    for rule in protocol.raw["rules"]:
        assert set(rule.get("tracks", [])) <= {t.value for t in Track}, rule["id"]


def test_the_sexto_grid_requires_every_question_but_the_words_on_the_content() -> None:
    assert set(required_fields(SEXTO)) == set(fields(SEXTO)) - {"content_nature"}


def test_uk_requires_the_seven_factors() -> None:
    assert len(required_fields(UK)) == 7


def test_missing_fields_are_named_in_the_grids_order() -> None:
    answers = {"vulnerability": "no", "intentions": [], "trigger": "joke"}

    assert missing_fields(SEXTO, answers)[:3] == ["intentions", "distribution_reach",
                                                  "still_spreading"]  # fmt: skip
    assert "trigger" not in missing_fields(SEXTO, answers)
    assert "vulnerability" not in missing_fields(SEXTO, answers)
    assert missing_fields(V1["sexto-qc"], {}) == []


@pytest.mark.parametrize(
    ("one", "other", "significant"),
    [
        (14, 17, True),  # three years
        (14, 16, False),
        (15, 14, False),
        (17, 18, True),  # a minor and an adult
        (18, 20, False),
        (18, 21, True),
        (12, 12, False),
    ],
)
def test_a_significant_age_gap_is_three_years_or_a_minor_and_an_adult(
    one: int, other: int, significant: bool
) -> None:
    assert significant_gap(SEXTO, one, other) is significant
    assert significant_gap(UK, other, one) is significant
    assert significant_gap(V1["sexto-qc"], one, other) is False  # v1 defines no check


@pytest.mark.parametrize(
    ("ages", "derived"),
    [
        ({"a": 14, "b": 15, "c": 15}, "no"),
        ({"a": 14, "b": 17, "c": None}, "yes"),  # one known gap is enough
        ({"a": 14, "b": 15, "c": None}, None),  # c could be anyone
        ({"a": None, "b": 15}, None),
        ({"a": 14}, None),  # nobody to compare with
    ],
)
def test_the_age_gap_is_derived_from_the_reported_ages(
    ages: dict[str, int | None], derived: str | None
) -> None:
    assert derived_age_gap(SEXTO, "a", ages) == derived


@given(st.integers(5, 25), st.lists(st.integers(5, 25), min_size=1, max_size=6))
def test_the_derived_gap_is_yes_exactly_when_one_pair_is_significant(
    own: int, others: list[int]
) -> None:
    ages: dict[str, int | None] = {"me": own, **{f"o{i}": a for i, a in enumerate(others)}}

    expected = any(significant_gap(SEXTO, own, a) for a in others)

    assert derived_age_gap(SEXTO, "me", ages) == ("yes" if expected else "no")


@pytest.mark.parametrize(
    ("age", "band"),
    [(9, "under_12"), (11, "under_12"), (12, "12_13"), (15, "14_15"), (17, "16_17"),
     (18, "18_plus"), (25, "18_plus"), (None, None)],
)  # fmt: skip
def test_an_age_falls_in_one_band_of_the_grid(age: int | None, band: str | None) -> None:
    assert band_of(SEXTO, age) == band
    assert band_of(UK, age) is None  # the UK grid asks no band


def test_a_victim_gets_no_indication_and_offender_only_rules_do_not_read_them() -> None:
    answers = {"intentions": ["revenge"], "prior_incidents": "yes", "still_spreading": "yes"}

    offender = evaluate(SEXTO, answers)
    victim = evaluate(SEXTO, answers, Track.VICTIM)
    witness = evaluate(SEXTO, answers, Track.WITNESS)

    assert offender.indication is Indication.MALICIOUS
    assert offender.urgency is Urgency.URGENT
    assert victim.indication is witness.indication is Indication.NOT_APPLICABLE
    assert [f.rule_id for f in victim.fired] == ["still_spreading"]
    assert victim.urgency is Urgency.HIGH


def test_every_uk_factor_reads_every_track() -> None:
    answers = {f: "no" for f in fields(UK)} | {"more_vulnerable": "yes"}

    victim = evaluate(UK, answers, Track.VICTIM)

    assert victim.escalate
    assert victim.indication is Indication.NOT_APPLICABLE

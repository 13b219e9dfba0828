"""The protocols' rules, pure: table-tested rule by rule, then properties (no server)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sexto_protocols import all_versions, current
from sexto_protocols.rules import (
    Indication,
    Urgency,
    answer_problems,
    evaluate,
    recommend,
)

SEXTO = current("sexto-qc")
UK = current("uk-dsl")
UK_FACTORS = [f["id"] for f in UK.raw["grid"]["fields"]]
MAL, IMP, UND = Indication.MALICIOUS, Indication.IMPULSIVE, Indication.UNDETERMINED
URGENT, HIGH, ROUTINE = Urgency.URGENT, Urgency.HIGH, Urgency.ROUTINE


def fields(protocol: Any) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in protocol.raw["grid"]["fields"]}


@pytest.mark.parametrize("protocol", all_versions(), ids=lambda p: f"{p.name}.v{p.version}")
def test_every_rule_reads_a_field_of_its_version_and_allowed_values(protocol: Any) -> None:
    known = fields(protocol)
    for rule in protocol.raw["rules"]:
        field = known[rule["when"]["field"]]
        assert set(rule["when"]["any_of"]) <= set(field["values"]), rule["id"]
        assert rule["fr"]
        assert rule["en"]


@pytest.mark.parametrize(
    ("answers", "rule", "indication", "urgency"),
    [
        ({"intentions": ["revenge"]}, "malicious_intent", MAL, URGENT),
        ({"intentions": ["humiliation", "joke"]}, "malicious_intent", MAL, URGENT),
        ({"coercion_or_threats": "yes"}, "coercion", MAL, URGENT),
        ({"involvement": ["coerced_someone"]}, "coerced_someone", MAL, URGENT),
        ({"prior_incidents": "yes"}, "recidivism", MAL, URGENT),
        ({"distribution_reach": "public_platform"}, "public_distribution", UND, HIGH),
        ({"still_spreading": "yes"}, "still_spreading", UND, HIGH),
        ({"significant_age_gap": "yes"}, "age_gap", UND, HIGH),
        ({"vulnerability": "yes"}, "vulnerable", UND, HIGH),
        ({"intentions": ["romantic_exchange"]}, "impulsive_context", IMP, ROUTINE),
    ],
)
def test_each_sexto_rule(
    answers: dict[str, Any], rule: str, indication: Indication, urgency: Urgency
) -> None:
    result = evaluate(SEXTO, answers)

    assert rule in [f.rule_id for f in result.fired]
    assert result.indication is indication
    assert result.urgency is urgency


def test_a_fired_rule_names_the_answers_it_read_in_both_languages() -> None:
    result = evaluate(SEXTO, {"intentions": ["joke", "revenge"], "trigger": "joke"})

    malicious = next(f for f in result.fired if f.rule_id == "malicious_intent")
    assert malicious.field == "intentions"
    assert malicious.read == ("revenge",)
    assert malicious.fr
    assert malicious.en


def test_no_answer_fires_nothing() -> None:
    result = evaluate(SEXTO, {})

    assert result.fired == ()
    assert result.indication is Indication.UNDETERMINED
    assert result.urgency is Urgency.ROUTINE


def test_answers_outside_the_grid_are_named() -> None:
    problems = answer_problems(
        SEXTO,
        {"intentions": ["revenge", "boredom"], "colour": "red", "trigger": "x",
         "content_nature": ""},
    )  # fmt: skip

    assert any(p.startswith("intentions:") for p in problems)
    assert any(p.startswith("colour:") for p in problems)
    assert any(p.startswith("trigger:") for p in problems)
    assert any(p.startswith("content_nature:") for p in problems)


def test_a_sexto_case_is_always_referred_to_the_police() -> None:
    calm = evaluate(SEXTO, {"intentions": ["romantic_exchange"]})

    assert recommend(SEXTO, [calm]).code == "police_referral"


# --- properties ------------------------------------------------------------------------


def sexto_answers() -> st.SearchStrategy[dict[str, Any]]:
    strategies: dict[str, st.SearchStrategy[Any]] = {}
    for name, field in fields(SEXTO).items():
        if field["kind"] == "choice":
            strategies[name] = st.sampled_from(field["values"])
        elif field["kind"] == "multi":
            strategies[name] = st.lists(st.sampled_from(field["values"]), unique=True)
    return st.fixed_dictionaries({}, optional=strategies)


uk_answers = st.fixed_dictionaries(
    {f: st.sampled_from(["yes", "no", "unknown"]) for f in UK_FACTORS}
)


@given(uk_answers)
def test_uk_any_factor_escalates_and_none_stays_in_school(answers: dict[str, str]) -> None:
    code = recommend(UK, [evaluate(UK, answers)]).code

    if "yes" in answers.values():
        assert code == "escalate_to_police_or_social_care"
    else:
        assert code == "manage_in_school"


@given(uk_answers, st.sampled_from(UK_FACTORS))
def test_uk_adding_a_factor_never_lowers_the_urgency(answers: dict[str, str], factor: str) -> None:
    before = evaluate(UK, answers)
    after = evaluate(UK, {**answers, factor: "yes"})

    assert after.urgency >= before.urgency
    assert after.escalate


@given(sexto_answers(), st.data())
def test_sexto_adding_a_risk_never_lowers_the_urgency_nor_softens_malice(
    answers: dict[str, Any], data: st.DataObject
) -> None:
    name, field = data.draw(st.sampled_from(sorted(fields(SEXTO).items())))
    if field["kind"] == "text":
        return
    riskier = dict(answers)
    if field["kind"] == "multi":
        riskier[name] = sorted(
            set(answers.get(name, [])) | {data.draw(st.sampled_from(field["values"]))}
        )
    elif "yes" in field["values"]:
        riskier[name] = "yes"
    else:
        return

    before, after = evaluate(SEXTO, answers), evaluate(SEXTO, riskier)

    assert after.urgency >= before.urgency
    if before.indication is Indication.MALICIOUS:
        assert after.indication is Indication.MALICIOUS


@given(sexto_answers())
def test_the_same_answers_always_give_the_same_result(answers: dict[str, Any]) -> None:
    assert evaluate(SEXTO, answers) == evaluate(SEXTO, dict(reversed(list(answers.items()))))


@given(st.lists(sexto_answers(), min_size=1, max_size=5))
def test_the_case_urgency_is_its_most_urgent_student(students: list[dict[str, Any]]) -> None:
    evaluations = [evaluate(SEXTO, a) for a in students]

    assert recommend(SEXTO, evaluations).urgency == max(e.urgency for e in evaluations)


def test_the_sexto_grid_asks_what_the_protocol_asks() -> None:
    asked = set(fields(SEXTO))

    assert {"trigger", "content_nature", "intentions", "distribution_reach", "still_spreading",
            "involvement", "age_band", "significant_age_gap", "coercion_or_threats",
            "prior_incidents", "vulnerability"} <= asked  # fmt: skip
    assert fields(SEXTO)["content_nature"]["kind"] == "text"  # described in words, never viewed


def test_the_uk_grid_has_the_seven_risk_factors_each_yes_no_unknown() -> None:
    assert len(UK_FACTORS) == 7
    assert all(fields(UK)[f]["values"] == ["yes", "no", "unknown"] for f in UK_FACTORS)


@pytest.mark.parametrize("protocol", all_versions(), ids=lambda p: p.name)
def test_each_version_names_its_parent_information_in_both_languages(protocol: Any) -> None:
    assert protocol.raw["parent_information"]["fr"]
    assert protocol.raw["parent_information"]["en"]

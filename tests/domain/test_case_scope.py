"""The one scope rule (no server): which cases each caller sees, for one case and for a list."""

from __future__ import annotations

import pytest
from sexto_events.principal import CaseScope, Principal, Role, can_see_case, visibility

OWN = CaseScope(school_id="school-1", territory="spvm", escalated=False, protocol="sexto-qc")
OWN_ESCALATED = CaseScope(school_id="school-1", territory="spvm", escalated=True,
                          protocol="sexto-qc")  # fmt: skip
ELSEWHERE = CaseScope(school_id="school-9", territory="sq", escalated=True, protocol="sexto-qc")


def caller(role: Role, school: str | None = None, territory: str | None = None) -> Principal:
    return Principal("p-1", role, school_id=school, territory=territory)


@pytest.mark.parametrize(
    ("who", "seen"),
    [
        (caller(Role.INTERVENER, school="school-1"), [OWN, OWN_ESCALATED]),
        (caller(Role.SCHOOL_ADMIN, school="school-1"), [OWN, OWN_ESCALATED]),
        (caller(Role.POLICE_DISPATCH, territory="spvm"), [OWN_ESCALATED]),
        (caller(Role.POLICE_OFFICER, territory="sq"), [ELSEWHERE]),
        (caller(Role.PROSECUTOR, territory="spvm"), [OWN_ESCALATED]),
        (caller(Role.LEGAL_REVIEWER), [OWN, OWN_ESCALATED, ELSEWHERE]),
        (caller(Role.ANALYST), [OWN, OWN_ESCALATED, ELSEWHERE]),
        (caller(Role.ADMIN), []),
        # A missing scope claim narrows to nothing, never widens.
        (caller(Role.INTERVENER), []),
        (caller(Role.POLICE_DISPATCH), []),
        (caller(Role.PROSECUTOR), []),
    ],
    ids=lambda v: v.role.value if isinstance(v, Principal) else "",
)
def test_each_caller_sees_exactly_its_scope(who: Principal, seen: list[CaseScope]) -> None:
    assert [c for c in (OWN, OWN_ESCALATED, ELSEWHERE) if can_see_case(who, c)] == seen


def test_a_list_is_filtered_by_the_same_rule() -> None:
    school = visibility(caller(Role.INTERVENER, school="school-1"))
    police = visibility(caller(Role.POLICE_DISPATCH, territory="spvm"))
    reviewer = visibility(caller(Role.LEGAL_REVIEWER))

    assert school is not None
    assert police is not None
    assert reviewer is not None
    assert school.sql() == (["school_id = $1"], ["school-1"])
    assert police.sql(first=3) == (["territory = $3", "escalated"], ["spvm"])
    assert police.sql(escalated=None) == (["territory = $1"], ["spvm"])
    assert reviewer.sql() == ([], [])
    assert visibility(caller(Role.ADMIN)) is None


def test_a_uk_path_case_is_never_the_dpcps_whatever_territory_its_token_names() -> None:
    dpcp = caller(Role.PROSECUTOR, territory="met")
    police = caller(Role.POLICE_DISPATCH, territory="met")
    uk_case = CaseScope(school_id="school-uk", territory="met", escalated=True, protocol="uk-dsl")
    sexto_case = CaseScope(school_id="school-1", territory="met", escalated=True,
                           protocol="sexto-qc")  # fmt: skip
    unknown = CaseScope(school_id="school-1", territory="met", escalated=True)

    assert not can_see_case(dpcp, uk_case)
    assert can_see_case(dpcp, sexto_case)
    assert not can_see_case(dpcp, unknown)  # narrowed to a protocol: unknown is outside
    assert can_see_case(police, uk_case)
    seen = visibility(dpcp)
    assert seen is not None
    assert seen.sql(protocol="p") == (
        ["territory = $1", "p = $2", "escalated"],
        ["met", "sexto-qc"],
    )

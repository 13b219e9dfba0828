"""Bounded use: each caller's writes are limited (a token bucket), the rest is a 429."""

from __future__ import annotations

from sexto_service.ratelimit import WriteLimiter

from tests.intake.conftest import World, sexto_report


def test_a_caller_has_its_burst_then_waits_for_the_refill() -> None:
    limiter = WriteLimiter(per_minute=60, burst=3)

    first = [limiter.retry_after("a", now=100.0) for _ in range(3)]
    fourth = limiter.retry_after("a", now=100.0)
    other = limiter.retry_after("b", now=100.0)
    later = limiter.retry_after("a", now=101.0)  # one write a second comes back

    assert first == [None, None, None]
    assert fourth == 1
    assert other is None
    assert later is None
    assert limiter.retry_after("a", now=101.0) == 1


def test_no_limit_when_the_rate_is_zero() -> None:
    limiter = WriteLimiter(per_minute=0, burst=1)

    assert all(limiter.retry_after("a", now=1.0) is None for _ in range(1000))


def test_the_callers_remembered_stay_bounded() -> None:
    limiter = WriteLimiter(per_minute=60, burst=1, max_callers=10)

    for i in range(100):
        limiter.retry_after(f"caller-{i}", now=float(i))

    assert len(limiter.buckets) <= 10


def test_a_write_over_the_limit_is_a_429_with_retry_after_and_records_nothing(
    world: World,
) -> None:
    case_id = world.report(sexto_report(world.school)).json()["case_id"]
    world.wait_for_case(case_id)
    app = world.client.app
    kept = app.state.write_limiter  # type: ignore[attr-defined]
    app.state.write_limiter = WriteLimiter(per_minute=6, burst=2)  # type: ignore[attr-defined]
    try:
        notes = [
            world.client.post(f"/v1/cases/{case_id}/notes", json={"text": f"note {i}"},
                              headers={**world.headers(), "Accept-Language": "fr"})
            for i in range(3)
        ]  # fmt: skip
        other = world.client.post(
            f"/v1/cases/{case_id}/notes", json={"text": "by a colleague"},
            headers=world.other_school_headers(),
        )  # fmt: skip
    finally:
        app.state.write_limiter = kept  # type: ignore[attr-defined]

    assert [n.status_code for n in notes] == [201, 201, 429]
    refused = notes[2]
    assert refused.headers["retry-after"] == "10"
    assert refused.json()["type"].endswith("/too-many-writes")
    assert refused.json()["title"] == "Trop d'écritures"
    assert "rien de cette requête n'a été enregistré" in refused.json()["detail"]
    assert other.status_code == 404  # another caller is not limited (and not of this school)


def test_the_longest_idle_caller_is_forgotten_first_never_a_throttled_one() -> None:
    limiter = WriteLimiter(per_minute=60, burst=1, max_callers=2)
    limiter.retry_after("busy", now=0.0)
    limiter.retry_after("idle", now=0.0)

    assert limiter.retry_after("busy", now=0.1) is not None  # throttled, and used last
    limiter.retry_after("newcomer", now=0.2)

    assert list(limiter.buckets) == ["busy", "newcomer"]
    assert limiter.retry_after("busy", now=0.3) is not None  # still throttled

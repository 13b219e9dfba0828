"""Readiness of a replicated log, from what the server reports (no server needed)."""

from __future__ import annotations

from typing import Any

from sexto_service.replication import fsync_problem, monitor_urls, replica_problems


def info(replicas: int, followers: list[dict[str, Any]], leader: str = "n1") -> dict[str, Any]:
    return {"config": {"num_replicas": replicas},
            "cluster": {"leader": leader, "replicas": followers}}  # fmt: skip


def test_three_replicas_with_a_current_majority_are_ready() -> None:
    current = {"name": "n2", "current": True}
    behind = {"name": "n3", "current": False}
    assert replica_problems(3, info(3, [current, {**current, "name": "n3"}])) == []
    assert replica_problems(3, info(3, [current, behind])) == []  # one catching up
    assert replica_problems(1, {"config": {"num_replicas": 1}}) == []


def test_missing_replicas_a_missing_leader_or_no_current_majority_are_not() -> None:
    behind = [{"name": "n2", "current": False}, {"name": "n3", "current": False}]
    assert replica_problems(3, info(1, [])) == ["stream has 1 replicas, settings ask for 3"]
    assert replica_problems(3, info(3, behind, leader="")) == ["stream has no leader"]
    assert replica_problems(3, info(3, behind[:1])) == ["stream has 2 of 3 peers"]
    assert replica_problems(3, info(3, behind)) == ["only 1 of 3 replicas are current"]


def test_a_server_fsyncs_always_only_when_varz_says_sync_always() -> None:
    always = {"server_name": "n1", "jetstream": {"config": {"sync_always": True}}}
    lazy = {"server_name": "n2", "jetstream": {"config": {"sync_interval": 120_000_000_000}}}
    assert fsync_problem(always) is None
    assert fsync_problem(lazy) == "server n2 does not run with sync_interval: always"
    assert fsync_problem({"server_name": "n3"}) == "server n3 has no JetStream"


def test_monitor_urls_are_a_comma_separated_setting() -> None:
    assert monitor_urls("http://a:1/, http://b:2") == ["http://a:1", "http://b:2"]
    assert monitor_urls("") == []

"""The CASES stream's fixed settings, created or enforced at start-up."""

from __future__ import annotations

import json
import uuid

import pytest
from nats.aio.client import Client
from sexto_events.errors import ServerTooOld, StreamMisconfigured
from sexto_events.store import EventStore
from sexto_events.stream import StreamSpec, check_server_version, ensure_stream


async def test_the_stream_is_created_with_the_fixed_settings(nc: Client, store: EventStore) -> None:
    info = json.loads((await nc.request("$JS.API.STREAM.INFO.CASES", b"", 5)).data)
    config = info["config"]

    assert config["subjects"] == ["cases.>"]
    assert config["storage"] == "file"
    assert config["discard"] == "new"
    assert config["deny_delete"] is True
    assert config["deny_purge"] is True
    assert config.get("allow_rollup_hdrs", False) is False
    assert config["allow_direct"] is True
    assert config["duplicate_window"] >= 10 * 60 * 1_000_000_000


async def test_ensure_stream_is_idempotent(nc: Client, store: EventStore) -> None:
    await ensure_stream(nc, store.spec)
    await ensure_stream(nc, store.spec)


@pytest.mark.parametrize(
    ("loosened", "named"),
    [
        ({"deny_delete": False}, "deny_delete"),
        ({"deny_purge": False}, "deny_purge"),
        ({"allow_rollup_hdrs": True, "deny_purge": False}, "allow_rollup_hdrs"),
        ({"max_age": 3600 * 1_000_000_000}, "max_age"),
    ],
)
async def test_a_stream_that_allows_loss_is_refused_with_a_clear_message(
    nc: Client, loosened: dict[str, object], named: str
) -> None:
    token = uuid.uuid4().hex[:8]
    spec = StreamSpec(name=f"LOOSE_{token}", subject_root=f"loose{token}")
    config = {**spec.config(), **loosened}
    created = json.loads(
        (
            await nc.request(f"$JS.API.STREAM.CREATE.{spec.name}", json.dumps(config).encode(), 5)
        ).data
    )
    assert "error" not in created

    with pytest.raises(StreamMisconfigured, match=named) as caught:
        await ensure_stream(nc, spec)
    assert "never loosen the log" in str(caught.value)


def test_a_server_older_than_2_11_is_refused() -> None:
    with pytest.raises(ServerTooOld, match=r"2\.9 is older than 2\.11"):
        check_server_version(2, 9)
    check_server_version(2, 11)
    check_server_version(3, 0)

"""What an API error answering a publish means: pure classification, no server."""

from __future__ import annotations

from typing import Any

import pytest
from sexto_events.store import classify_append_error


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        ({"code": 400, "err_code": 10071, "description": "wrong last sequence: 3"}, "conflict"),
        ({"code": 400, "err_code": 10164, "description": "wrong last sequence"}, "conflict"),
        ({"code": 503, "err_code": 10077, "description": "store is closed"}, "pending"),
        ({"code": 500, "err_code": 10077, "description": "maximum messages exceeded"}, "failed"),
        ({"code": 500, "err_code": 10077, "description": "maximum bytes exceeded"}, "failed"),
        (
            {
                "code": 500,
                "err_code": 10077,
                "description": "maximum messages per subject exceeded",
            },
            "failed",
        ),
        (
            {"code": 500, "err_code": 10077, "description": "write /data/x: i/o error"},
            "failed",
        ),
        ({"code": 503, "err_code": 10023, "description": "insufficient resources"}, "failed"),
        ({"code": 503, "description": "write /data/blk: input/output error"}, "failed"),
        ({"code": 503, "description": "open /data/blk: read-only file system"}, "failed"),
        (
            {"code": 503, "err_code": 10077, "description": "write: no space left on device"},
            "failed",
        ),
        ({"code": 503, "description": "JetStream system temporarily unavailable"}, "pending"),
        ({"code": 503, "err_code": 10008, "description": "jetstream cluster not ready"}, "pending"),
        (
            {"code": 400, "err_code": 10158, "description": "duplicate message id is in process"},
            "pending",
        ),
        ({"code": 429, "err_code": 10167, "description": "too many requests"}, "pending"),
        ({"code": 400, "err_code": 10054, "description": "message size exceeds maximum"}, "failed"),
    ],
)
def test_an_append_error_is_a_conflict_a_pending_outcome_or_a_refusal(
    error: dict[str, Any], outcome: str
) -> None:
    assert classify_append_error(error) == outcome

"""The chaos client waits as a 429 tells it to, then retries (the write limit is not a refusal)."""

from __future__ import annotations

import httpx

from chaos.load import retry_after_s


def test_a_429_is_waited_out_for_as_long_as_it_says() -> None:
    assert retry_after_s(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    assert retry_after_s(httpx.Response(429)) == 1.0
    assert retry_after_s(httpx.Response(429, headers={"Retry-After": "soon"})) == 1.0

"""/healthz, /readyz and /metrics, the same on every service."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sexto_events.messages import Message

from sexto_service.problems import problem
from sexto_service.telemetry import untraced

Check = Callable[[], Awaitable[None]]


def health_router(
    checks: Callable[[], dict[str, Check]],
    before_scrape: Callable[[], Awaitable[None]] | None = None,
) -> APIRouter:
    """Routes answering liveness, readiness (every check passes) and Prometheus metrics
    (`before_scrape` brings the figures read from the servers up to date)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", response_model=None)
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks().items():
            try:
                with untraced():
                    await asyncio.wait_for(check(), 2.0)
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"failing: {type(exc).__name__}"
        if all(v == "ok" for v in results.values()) and results:
            return JSONResponse({"status": "ready", "checks": results})
        detail = Message("not-ready", checks=json.dumps(results))
        return problem(503, "not-ready", detail, situation="unavailable", checks=results)

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                         "description": "Prometheus text exposition format"}},
    )  # fmt: skip
    async def metrics() -> Response:
        if before_scrape is not None:
            with untraced():
                await before_scrape()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router

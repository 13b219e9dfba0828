"""The bare baseline for the intake benchmark: validate the same body, one js.publish."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
from fastapi import FastAPI
from sexto_intake.entrypoints.schemas import ReportCaseIn


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.nc = await nats.connect(os.environ["SEXTO_NATS_URL"])
    yield
    await app.state.nc.close()


app = FastAPI(lifespan=lifespan)


@app.post("/v1/cases", status_code=201)
async def report(body: ReportCaseIn) -> dict[str, str]:
    case_id = uuid.uuid4().hex
    js = app.state.nc.jetstream()
    ack = await js.publish(
        f"cases.bare.{case_id}.intake.case_reported", body.model_dump_json().encode()
    )
    return {"case_id": case_id, "seq": str(ack.seq)}

"""The bare baseline for the intake benchmark: validate the same body, one js.publish.

It publishes to a stream of its own (`BARE`, file storage on the same server, so the same
`sync_interval: always`): bodies that are no events must not reach the services'
consumers on `CASES`, which would retry and park them at the measured service's expense.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
from fastapi import FastAPI
from nats.js.api import StorageType, StreamConfig
from sexto_intake.entrypoints.schemas import ReportCaseIn

STREAM = StreamConfig(name="BARE", subjects=["bare.>"], storage=StorageType.FILE)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.nc = await nats.connect(os.environ["SEXTO_NATS_URL"])
    await app.state.nc.jetstream().add_stream(STREAM)  # idempotent for the same config
    yield
    await app.state.nc.close()


app = FastAPI(lifespan=lifespan)


@app.post("/v1/cases", status_code=201)
async def report(body: ReportCaseIn) -> dict[str, str]:
    case_id = uuid.uuid4().hex
    js = app.state.nc.jetstream()
    ack = await js.publish(f"bare.{case_id}.case_reported", body.model_dump_json().encode())
    return {"case_id": case_id, "seq": str(ack.seq)}

"""A process of its own that reads one case's first student name each time it is asked, its
key cache warm from the first read: for the cross-process shredding test.

usage: python -m tests.support.key_reader_proc NATS_URL DSN TERRITORY CASE_ID
Prints the name after start-up and after every line read on stdin.
"""

from __future__ import annotations

import asyncio
import sys

from sexto_events.catalogue.base import ERASED
from sexto_events.catalogue.intake import CaseReported
from sexto_events.connection import connect
from sexto_events.db import create_pool
from sexto_events.model import CaseRef
from sexto_events.personal import KeyVault, PersonalDataCodec
from sexto_events.store import EventStore

from tests.conftest import LEASE_S, MASTER_KEY


async def main(nats_url: str, dsn: str, case: CaseRef) -> None:
    nc = await connect(nats_url)
    pool = await create_pool(dsn)
    store = EventStore(
        nc,
        source="sexto/tests",
        codec=PersonalDataCodec(KeyVault(pool, MASTER_KEY, lease_seconds=LEASE_S)),
    )

    async def name() -> str:
        data = (await store.load(case)).events[0].data
        assert isinstance(data, CaseReported)
        found = data.students[0].name
        return "<erased>" if found == ERASED else str(found)

    print(await name(), flush=True)
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        print(await name(), flush=True)
    await store.close()
    await pool.close()
    await nc.close()


if __name__ == "__main__":
    url, dsn, territory, case_id = sys.argv[1:5]
    asyncio.run(main(url, dsn, CaseRef(territory, case_id)))

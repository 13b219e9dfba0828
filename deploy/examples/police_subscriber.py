"""Example police dispatch integration: follow one territory's escalations, report back.

    TOKEN=$(make -s token ROLE=police_dispatch SCOPE=spvm)
    python deploy/examples/police_subscriber.py --nats nats://127.0.0.1:14222 \
        --territory spvm --api http://127.0.0.1:8003 --token "$TOKEN"

It keeps a durable consumer of its own (`dispatch-<territory>`), so nothing is missed while
it is down, acknowledges each escalation over REST with a call reference, and prints what
it saw: references, urgency and roles, never a name (events carry none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid

import httpx
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


async def follow(nats_url: str, territory: str, api: str, token: str, idle_exit: float) -> None:
    """Consume `cases.<territory>.*.escalation.requested`; acknowledge each over REST."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    durable = f"dispatch-{territory}"
    await js.add_consumer(
        "CASES",
        ConsumerConfig(
            durable_name=durable,
            filter_subject=f"cases.{territory}.*.escalation.requested",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
        ),
    )
    sub = await js.pull_subscribe_bind(durable, "CASES")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=10) as client:
        idle_since = asyncio.get_running_loop().time()
        while True:
            try:
                msgs = await sub.fetch(10, timeout=1)
            except (nats.errors.TimeoutError, TimeoutError):  # nats-py raises either
                idle = asyncio.get_running_loop().time() - idle_since
                if idle_exit and idle > idle_exit:
                    await nc.close()
                    return
                continue
            idle_since = asyncio.get_running_loop().time()
            for msg in msgs:
                event = json.loads(msg.data)
                case_id, data = event["subject"], event["data"]
                # A student's roles are a set (v2); `track` says whether the prosecutor
                # decides about them (offender) or they are met and supported (victim).
                roles = [
                    f"{s['student_ref']}:{'+'.join(s['roles'])}:{s['track']}:{s['indication']}"
                    for s in data["students"]
                ]
                print(
                    f"escalation {case_id} urgency={data['urgency']} students={roles}", flush=True
                )
                call = {"call_reference": f"911-{uuid.uuid4().hex[:8]}"}
                response = await client.post(f"/v1/escalations/{case_id}/acknowledge", json=call)
                if response.status_code in (201, 409):  # 409: acknowledged already
                    await msg.ack()
                else:
                    await msg.nak(delay=2)  # the REST side is not ready yet: try again
                    print(f"  acknowledge failed: {response.status_code}", flush=True)


def main() -> None:
    """Parse arguments and follow the territory's escalations."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nats", required=True)
    parser.add_argument("--territory", required=True)
    parser.add_argument("--api", required=True, help="the escalation service's base URL")
    parser.add_argument("--token", required=True, help="a police_dispatch bearer token")
    parser.add_argument(
        "--exit-after-idle", type=float, default=0.0, help="stop after this many idle seconds"
    )
    args = parser.parse_args()
    asyncio.run(follow(args.nats, args.territory, args.api, args.token, args.exit_after_idle))


if __name__ == "__main__":
    main()

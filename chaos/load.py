"""Incidents through the public REST API, each write retried with its Idempotency-Key on
any answer that leaves its outcome unknown or says to retry (5xx, no answer), on the other
instance of the service; every 2xx is noted for the checks."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sexto_events.principal import Role
from sexto_service.auth.issuer import ensure_key, mint

from tests.support.grids import DEPICTED, IMPULSIVE, MALICIOUS

SCHOOL, TERRITORY = "ecole-des-erables", "spvm"
# The depicted student's grid says so; a redistributor acting out of revenge calls the police.
GRIDS = [DEPICTED, MALICIOUS, IMPULSIVE]
STEP_DEADLINE_S = 180.0
# Not yet possible (the grids not yet open, the escalation not yet requested): try again.
NOT_YET = {404, 409}
TOO_MANY = 429


def retry_after_s(answer: httpx.Response) -> float:
    """The seconds a 429 says to wait (`Retry-After`, 1 when absent or unreadable)."""
    try:
        return max(float(answer.headers.get("Retry-After", "1")), 0.0)
    except ValueError:
        return 1.0


@dataclass
class Accepted:
    """Every write that got a 2xx, by what it was."""

    reports: dict[str, str] = field(default_factory=dict)  # case id -> idempotency key
    grids: list[tuple[str, str]] = field(default_factory=list)  # (case id, student ref)
    acknowledgements: list[str] = field(default_factory=list)  # case ids
    statuses: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    abandoned: int = 0


def report_body(n: int) -> dict[str, Any]:
    """A SEXTO report with three students (invented names)."""
    return {
        "protocol": "sexto-qc",
        "school_id": SCHOOL,
        "discovered_at": "2026-11-02T09:30:00-05:00",
        "discovery_channel": "student_disclosure",
        "summary": f"Chaos incident {n}: a photo was shared in a group chat.",
        "students": [
            {"name": f"Invented Depicted {n}", "role": "depicted", "age": 14},
            {"name": f"Invented Sender {n}", "role": "sender", "age": 15},
            {"name": f"Invented Redistributor {n}", "role": "redistributor", "age": 15},
        ],
    }


class Load:
    """Sends incidents and keeps what was accepted."""

    def __init__(self, urls: dict[str, str], issuer_key: Path, run: str) -> None:
        key = ensure_key(issuer_key)
        self.staff = {"Authorization": "Bearer " + mint(
            key, role=Role.INTERVENER, subject="iv-demo-1", school=SCHOOL)}  # fmt: skip
        self.police = {"Authorization": "Bearer " + mint(
            key, role=Role.POLICE_DISPATCH, subject="disp-1", territory=TERRITORY)}  # fmt: skip
        self.urls = urls
        self.run = run
        self.accepted = Accepted()
        self.client = httpx.AsyncClient(timeout=30.0)

    def instances(self, service: str) -> itertools.cycle[str]:
        """The instances of a service, from a random one on."""
        found = [url for name, url in self.urls.items() if name.split("-")[0] == service]
        random.shuffle(found)
        return itertools.cycle(found)

    async def write(
        self, service: str, method: str, path: str, body: dict[str, Any], key: str,
        headers: dict[str, str],
    ) -> httpx.Response | None:  # fmt: skip
        """One write until a 2xx or a refusal; None if its deadline passed first."""
        deadline = time.monotonic() + STEP_DEADLINE_S
        wait = 0.2
        for url in self.instances(service):
            try:
                answer = await self.client.request(
                    method, url + path, json=body,
                    headers={**headers, "Idempotency-Key": key},
                )  # fmt: skip
                self.accepted.statuses[str(answer.status_code)] += 1
                if 200 <= answer.status_code < 300:
                    return answer
                if answer.status_code == TOO_MANY:  # the caller's write limit: wait as told
                    wait = max(wait, retry_after_s(answer))
                elif answer.status_code < 500 and answer.status_code not in NOT_YET:
                    self.accepted.refused.append(
                        f"{path}: {answer.status_code} {answer.text[:200]}"
                    )
                    return None
            except httpx.HTTPError as exc:
                self.accepted.statuses[type(exc).__name__] += 1
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(wait * random.uniform(0.5, 1.5))
            wait = min(wait * 2, 3.0)
        return None

    async def incident(self, n: int) -> None:
        """Report, a grid per student, the police's acknowledgement."""
        key = f"{self.run}-{n}"
        made = await self.write("intake", "POST", "/v1/cases", report_body(n), key, self.staff)
        if made is None:
            self.accepted.abandoned += 1
            return
        case_id = made.json()["case_id"]
        self.accepted.reports[case_id] = key
        refs = [s["student_ref"] for s in made.json()["students"]]
        for index, ref in enumerate(refs):
            grid = await self.write(
                "evaluation", "PUT", f"/v1/cases/{case_id}/grids/{ref}",
                {"answers": GRIDS[index]}, f"{key}-grid-{index}", self.staff,
            )  # fmt: skip
            if grid is None:
                self.accepted.abandoned += 1
                return
            self.accepted.grids.append((case_id, ref))
        acknowledged = await self.write(
            "escalation", "POST", f"/v1/escalations/{case_id}/acknowledge",
            {"call_reference": f"911-{n}"}, f"{key}-ack", self.police,
        )  # fmt: skip
        if acknowledged is None:
            self.accepted.abandoned += 1
            return
        self.accepted.acknowledgements.append(case_id)

    async def send(self, incidents: int, rate: float) -> int:
        """`incidents` at `rate` per second; returns how many were sent."""
        tasks = []
        start = time.monotonic()
        for n in range(incidents):
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            tasks.append(asyncio.create_task(self.incident(n)))
        await asyncio.gather(*tasks)
        return len(tasks)

    async def subscribe(self, url: str) -> None:
        """The police's webhook for every escalation event of their territory."""
        answer = await self.write(
            "notification", "POST", "/v1/subscriptions",
            {"url": url, "types": ["escalation.*"]}, f"{self.run}-webhook", self.police,
        )  # fmt: skip
        if answer is None:
            raise RuntimeError(f"the webhook subscription was refused: {self.accepted.refused}")

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

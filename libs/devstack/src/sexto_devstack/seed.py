"""Seed the fictional directory from deploy/seed/directory.json through the admin API."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from sexto_events.principal import Role
from sexto_service.auth.issuer import ensure_key, mint

ORDER = ("territories", "agreements", "schools", "interveners")


def seed_directory(intake_url: str, seed_file: Path, issuer_key: Path, marker: Path) -> int:
    """Post every entry once (409 means already there); returns how many were added."""
    if marker.exists() or not seed_file.exists():
        return 0
    token = mint(ensure_key(issuer_key), role=Role.ADMIN, subject="devstack-seed")
    headers = {"Authorization": f"Bearer {token}"}
    data = json.loads(seed_file.read_text())
    added = 0
    with httpx.Client(base_url=intake_url, headers=headers, timeout=10) as client:
        for kind in ORDER:
            for entry in data.get(kind, []):
                response = _post(client, f"/v1/admin/{kind}", entry)
                if response.status_code == 201:
                    added += 1
                elif response.status_code != 409:
                    raise RuntimeError(f"seeding {kind} failed: {response.text}")
    marker.write_text("seeded\n")
    return added


def _post(client: httpx.Client, path: str, entry: dict[str, object]) -> httpx.Response:
    # Interveners need their school in the read model, which follows the log closely.
    for _ in range(50):
        response = client.post(path, json=entry)
        if response.status_code != 422 or "unknown-school" not in response.text:
            return response
        time.sleep(0.1)
    return response

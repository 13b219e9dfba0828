#!/usr/bin/env python3
"""Verify a sexto court bundle with nothing but the Python standard library (3.8+).

usage: python verify.py [BUNDLE_FOLDER]   (default: the folder this script is in)

Checks, in order: every event's hash over the RFC 8785 canonical JSON of its envelope
without `hash`; every `prevhash` link, from an empty one at the start; that all events
belong to the one case of the manifest, with no id twice; that the count and the head
hash match the manifest; the SHA-256 of every file listed in the manifest; each protocol
file against its content-hash id; each custody line against the event it cites.
Prints every failure, naming the event (position and id), and exits 1; exits 0 if all hold.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

EVENTS = "events.jsonl"
MANIFEST = "manifest.json"
CUSTODY = "custody.jsonl"


def es_number(value: float) -> str:
    """A float as ECMAScript's Number.prototype.toString writes it (RFC 8785, 3.2.2.3)."""
    if not math.isfinite(value):
        raise ValueError("NaN and infinities are not JSON")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _, digits_t, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(str(d) for d in digits_t)
    k = len(digits)
    n = k + int(exponent)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"


def canonical(value: Any) -> str:
    """RFC 8785 canonical JSON: sorted keys (UTF-16 order), no spaces, ECMAScript numbers."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return es_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        members = (json.dumps(k, ensure_ascii=False) + ":" + canonical(value[k]) for k in keys)
        return "{" + ",".join(members) + "}"
    raise ValueError(f"not a JSON value: {type(value).__name__}")


def event_hash(envelope: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical envelope without its `hash` member."""
    body = {k: v for k, v in envelope.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_events(
    lines: list[bytes], manifest: dict[str, Any]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Failures of the chain, and the parsed envelopes (up to the first unreadable line)."""
    failures: list[str] = []
    envelopes: list[dict[str, Any]] = []
    previous = ""
    seen: set[str] = set()
    for position, line in enumerate(lines):
        where = f"event at position {position} (line {position + 1})"
        try:
            env = json.loads(line)
            if not isinstance(env, dict):
                raise ValueError("not an object")
        except ValueError:
            found = re.search(rb'"id":"([^"]*)"', line)
            named = f" id {found.group(1).decode(errors='replace')}" if found else ""
            failures.append(f"{where}{named}: not a valid JSON event (altered)")
            return failures, envelopes
        event_id = str(env.get("id"))
        where = f"event {event_id} at position {position} (line {position + 1})"
        if event_hash(env) != env.get("hash"):
            failures.append(f"{where}: content does not match its hash (altered)")
        if env.get("prevhash") != previous:
            failures.append(
                f"{where}: prevhash does not match the previous event's hash "
                "(an event was removed, inserted or reordered)"
                if position
                else f"{where}: the first event must have an empty prevhash "
                "(events missing before it)"
            )
        if (env.get("subject"), env.get("territory")) != (
            manifest["case_id"],
            manifest["territory"],
        ):
            failures.append(f"{where}: belongs to another case")
        if event_id in seen:
            failures.append(f"{where}: the same event id appears twice")
        seen.add(event_id)
        previous = str(env.get("hash"))
        envelopes.append(env)
    if len(lines) != manifest["event_count"]:
        failures.append(
            f"the bundle holds {len(lines)} events, the manifest says {manifest['event_count']} "
            "(events removed or added)"
        )
    elif previous != manifest["head_hash"]:
        failures.append("the last event's hash is not the manifest's head hash")
    return failures, envelopes


def check_files(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Failures of the files' SHA-256 digests against the manifest."""
    failures = []
    for name, digest in sorted(manifest["files"].items()):
        path = folder / name
        if not path.is_file():
            failures.append(f"file {name} is missing")
        elif sha256_file(path) != digest:
            failures.append(f"file {name} does not match its SHA-256 in the manifest (altered)")
    return failures


def check_protocols(
    folder: Path, manifest: dict[str, Any], envelopes: list[dict[str, Any]]
) -> list[str]:
    """Failures of protocol files against their content-hash ids, and missing versions."""
    failures = []
    protocols: dict[str, str] = manifest.get("protocols", {})
    for version_id, name in sorted(protocols.items()):
        path = folder / name
        if path.is_file() and "sha256:" + sha256_file(path) != version_id:
            failures.append(f"protocol file {name} does not match its id {version_id}")
    for position, env in enumerate(envelopes):
        named = env.get("protocolversion")
        if named and named not in protocols:
            failures.append(
                f"event {env.get('id')} at position {position}: protocol {named} not in the bundle"
            )
    return failures


def check_custody(folder: Path, envelopes: list[dict[str, Any]]) -> list[str]:
    """Failures of custody lines that cite an event the bundle does not hold there."""
    path = folder / CUSTODY
    if not path.is_file():
        return []
    failures = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        step = json.loads(line)
        position = step.get("position")
        ok = isinstance(position, int) and 0 <= position < len(envelopes)
        if not ok or envelopes[position].get("id") != step.get("event_id"):
            failures.append(
                f"custody line {number} cites event {step.get('event_id')}, "
                f"which is not at position {position}"
            )
    return failures


def main(argv: list[str]) -> int:
    """Verify the bundle in argv[1] (or beside this script); print the outcome."""
    folder = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    lines = [line for line in (folder / EVENTS).read_bytes().split(b"\n") if line.strip()]
    failures, envelopes = check_events(lines, manifest)
    failures += check_files(folder, manifest)
    failures += check_protocols(folder, manifest, envelopes)
    failures += check_custody(folder, envelopes)
    if failures:
        print(f"FAILED: case {manifest['case_id']} does not verify:")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print(
        f"OK: {len(lines)} events of case {manifest['case_id']} verified; "
        f"head hash {manifest['head_hash']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

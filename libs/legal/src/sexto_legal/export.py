"""The court bundle: a case's events byte for byte, what they refer to, and a verifier.

events.jsonl holds the stored messages exactly as the log holds them (canonical JSON, one
per line, personal data sealed), so their hashes check without trusting this software;
verify.py re-checks everything with the Python standard library alone. The personal data
beside them (personal-data.jsonl) is opened and disclosed by the exporter's row of the
disclosure policy: a bundle is only built for a reader shown personal data in clear.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import sexto_protocols as protocols
from sexto_events.catalogue.base import ERASED
from sexto_events.chain import canonical_json, verify_chain
from sexto_events.disclosure import Viewer, disclose
from sexto_events.envelope import format_time
from sexto_events.errors import EventLogError
from sexto_events.model import CaseRef, RecordedEvent
from sexto_events.personal import has_personal_fields, walk_personal
from sexto_events.principal import Principal
from sexto_events.store import EventStore

from sexto_legal.bundle_verify import Unreadable, canonical, strict_loads
from sexto_legal.custody import custody_log
from sexto_legal.disclosed import opens_personal_data
from sexto_legal.transparency.api import TreeClient
from sexto_legal.transparency.evidence import case_evidence

BUNDLE_FORMAT = 1
EVENTS = "events.jsonl"
MANIFEST = "manifest.json"


@dataclass
class Bundle:
    """The bundle's files (relative path -> bytes), the manifest last."""

    case: CaseRef
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def manifest(self) -> dict[str, Any]:
        """The parsed manifest."""
        loaded: dict[str, Any] = json.loads(self.files[MANIFEST])
        return loaded

    def write(self, folder: Path) -> Path:
        """Write the files under `folder` (created; existing bundle files are replaced)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in self.files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        return folder

    def zip_bytes(self) -> bytes:
        """The bundle as a zip archive, under a folder named after the case."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in self.files.items():
                archive.writestr(f"case-{self.case.case_id}/{name}", content)
        return buffer.getvalue()


def _parsed(body: bytes) -> dict[str, Any]:
    """The stored envelope, or an empty one for a body that is not a JSON object."""
    try:
        raw = json.loads(body)
    except ValueError:
        return {}
    return raw if isinstance(raw, dict) else {}


def not_canonical(bodies: list[bytes]) -> list[int]:
    """Positions of stored bodies that are JSON objects not written byte for byte in
    canonical JSON, by the bundle verifier's own rule (bodies written by older code were
    compact but not key-sorted: their hashes check by re-encoding, their bytes do not)."""
    positions = []
    for position, body in enumerate(bodies):
        try:
            env = strict_loads(body)
            if isinstance(env, dict) and canonical(env).encode("utf-8") != body:
                positions.append(position)
        except (Unreadable, ValueError):
            continue  # not JSON at all: the chain reports it
    return positions


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(r, ensure_ascii=False, sort_keys=True).encode() + b"\n" for r in rows
    )


def verifier_script() -> bytes:
    """The standalone, standard-library-only verifier shipped in every bundle."""
    return (resources.files("sexto_legal") / "bundle_verify.py").read_bytes()


class NotForThisReader(ValueError):
    """A bundle asked for by a reader not shown personal data in clear."""


async def build_bundle(
    store: EventStore,
    case: CaseRef,
    *,
    tree: TreeClient,
    exported_by: Principal,
    viewer: Viewer,
    now: datetime,
) -> Bundle:
    """Everything a court needs to read and check the case's record, with the transparency
    log's proof that these are all of the case's events up to a cosigned checkpoint.

    Raises NotForThisReader unless `viewer` is shown personal data in clear (the access
    rules keep bundles to legal reviewers; this keeps the builder to the same rule), and
    TreeUnavailable when the transparency log does not answer (no bundle without proof).
    """
    if not opens_personal_data(viewer):
        raise NotForThisReader("a court bundle holds personal data in clear")
    evidence = await case_evidence(store, tree, case)
    stored = evidence.stored
    raws = [_parsed(m.body) for m in stored]
    # A broken chain does not stop the export: the bundle holds the events as stored and
    # the manifest records where the chain breaks (verify.py will name it too).
    chain = verify_chain(raws, [m.body for m in stored])
    bundle = Bundle(case)
    bundle.files[EVENTS] = b"".join(m.body + b"\n" for m in stored)
    named = sorted({str(r["protocolversion"]) for r in raws if r.get("protocolversion")})
    protocol_files: dict[str, str] = {}
    for version_id in named:
        version = protocols.by_id(version_id)
        if version is not None:
            path = f"protocols/{version.name}.v{version.version}.json"
            bundle.files[path] = canonical_json(version.raw)
            protocol_files[version_id] = path
    bundle.files["custody.jsonl"] = _jsonl(custody_log(raws))
    bundle.files["personal-data.jsonl"] = _jsonl(
        await _personal_data(store, viewer, [(m.seq, r) for m, r in zip(stored, raws, strict=True)])
    )
    bundle.files["README.md"] = _readme(case, len(stored), protocol_files).encode()
    bundle.files["verify.py"] = verifier_script()
    bundle.files["tlog_check.py"] = (resources.files("sexto_legal") / "tlog_check.py").read_bytes()
    bundle.files.update(evidence.files())
    manifest = {
        "format": BUNDLE_FORMAT,
        "case_id": case.case_id,
        "territory": case.territory,
        "exported_at": format_time(now),
        "exported_by": {"actor": exported_by.actor, "role": exported_by.role.value},
        "event_count": len(stored),
        "head_hash": str(raws[-1].get("hash", "")) if raws else "",
        "stream_sequences": [m.seq for m in stored],
        "chain_at_export": {
            "ok": chain.ok,
            "position": chain.position,
            "event_id": chain.event_id,
            "reason": chain.reason,
        },
        "not_canonical_at_export": not_canonical([m.body for m in stored]),
        "protocols": protocol_files,
        "missing_protocols": [v for v in named if v not in protocol_files],
        "transparency": evidence.manifest(),
        "files": {
            name: hashlib.sha256(content).hexdigest()
            for name, content in sorted(bundle.files.items())
        },
    }
    bundle.files[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    return bundle


async def _personal_data(
    store: EventStore, viewer: Viewer, items: list[tuple[int, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Each personal field as `viewer` may see it as of now (the data opened, then disclosed
    by its declared classes); a shredded subject's fields read as erased."""
    rows: list[dict[str, Any]] = []
    try:  # one key lookup for the case; event by event only when one cannot be decoded
        decoded: list[RecordedEvent | str] = list(await store.decoder.decode(items))
    except _UNDECODABLE:
        decoded = [await _decode_one(store, item) for item in items]
    for position, event in enumerate(decoded):
        if isinstance(event, str):
            rows.append({"event_id": items[position][1].get("id"), "position": position,
                         "unreadable": event})  # fmt: skip
            continue
        cls = type(event.data)
        if not has_personal_fields(cls):
            continue
        found: list[dict[str, Any]] = []

        def collect(value: Any, subject: str, where: str, found: list[Any] = found) -> Any:
            erased = value == ERASED.model_dump()
            entry = {"subject_key": subject, "field": where}
            found.append(entry | ({"erased": True} if erased else {"value": value}))
            return value

        case_id = event.envelope.subject
        shown = disclose(viewer, cls, event.data.model_dump(mode="json"), case_id)
        walk_personal(cls, shown, case_id, collect)
        rows += [{"event_id": event.id, "position": position, **f} for f in found]
    return rows


_UNDECODABLE = (EventLogError, KeyError, TypeError, ValueError)


async def _decode_one(store: EventStore, item: tuple[int, dict[str, Any]]) -> RecordedEvent | str:
    """The decoded event, or why it cannot be decoded (an altered or unreadable event)."""
    try:
        (event,) = await store.decoder.decode([item])
    except _UNDECODABLE as exc:
        return f"cannot be decoded: {exc}"
    return event


def _readme(case: CaseRef, count: int, protocol_files: dict[str, str]) -> str:
    listed = "\n".join(f"- `{path}` — id `{vid}`" for vid, path in protocol_files.items())
    return f"""# Court bundle: case {case.case_id} (territory {case.territory})

This folder is the complete record of one case as the sexto event log holds it, exported
for a court, a complaint or an inquiry. It contains {count} events.

## Files

- `events.jsonl` — the events, one per line, **byte for byte as stored** in the log
  (CloudEvents 1.0 JSON envelopes). Each carries `hash` (SHA-256 over the RFC 8785
  canonical JSON of the envelope without `hash`) and `prevhash` (the previous event's
  `hash`; empty for the first), so the events form a hash chain.
- `protocols/` — the protocol versions the events name in `protocolversion`; each file's
  SHA-256 is its id (`sha256:<hex>`), so the rules in force are fixed by the events:
{listed or "- (no event of this case names a protocol version)"}
- `custody.jsonl` — the chain of custody of the sealed kit (seal numbers secured at the
  school, listed for the police, collected and checked), derived from the events; each
  line cites the event (id and position) it comes from, and the verifier derives it again.
- `personal-data.jsonl` — personal data (names, free text) in clear, as of the export.
  In the log it is encrypted (AES-256-GCM, one key per data subject); the hashes cover the
  ciphertext, not this file. A subject erased by crypto-shredding reads `"erased": true`.
- `manifest.json` — the case, the exporter, the event count, the head hash, the stream
  sequences, the transparency log's origin and keys, and the SHA-256 of every other file.
- `transparency/` — the transparency log's evidence: `checkpoint.txt` (the log's size and
  Merkle root when the bundle was made, C2SP tlog-checkpoint signed by the log's key and
  cosigned by its witnesses), `proofs.jsonl` (each event's leaf in the log's Merkle tree and
  its RFC 6962 inclusion proof), `case-head.txt` (the log's signed statement of how many
  events the case has in that tree, and which is the last).
- `verify.py` and `tlog_check.py` — a verifier that needs only Python 3.8+ and its standard
  library (Ed25519 included, in pure Python).

## How to verify

    python3 verify.py            # or: python3 verify.py path/to/this/folder
    python3 verify.py --log-key <the log's published key> --witness <a witness's key>

It checks that every line of `events.jsonl` is written exactly in canonical JSON (no key
twice: what is read is what is hashed), recomputes every event's hash, checks every
`prevhash` link, that all events belong to this case, that the count and head hash match
the manifest, every file's SHA-256, that every protocol file is present and matches its
id, and that `custody.jsonl` is exactly the custody derived again from the events. Then the
transparency evidence: the checkpoint's signature and cosignatures, every event's inclusion
in the signed tree, the events numbered 0..n-1 in the log and each linked to the previous,
and the log's signed count of the case's events. It prints `OK`, the checkpoint to keep and
the case's head in it, and exits 0, or lists each failure naming the event (id and
position) and exits 1. Anyone can re-implement these checks from this description: nothing
secret is needed, and the verifier is short enough to read.

## What the verification proves, and what it cannot

- Any altered, inserted, removed or reordered event is detected, **even** if whoever edits
  this folder recomputes the hashes and the manifest: each event's bytes are in the log's
  Merkle tree as signed and cosigned, numbered within the case and linked to the previous
  one, and the log signed how many events the case has (a dropped last event is caught).
- The keys in `manifest.json` are the bundle's own claim: check against the keys the
  operator publishes (`--log-key`, `--witness`). Keep `transparency/checkpoint.txt`: a later
  bundle or proof is checked against it with a consistency proof (the log only grew).
- `personal-data.jsonl` and `custody.jsonl` are derived views: the events are the
  authority. The personal data's authenticity is guaranteed by AES-GCM in the log, which
  only the key holder can check.
"""

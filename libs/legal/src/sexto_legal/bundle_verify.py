#!/usr/bin/env python3
"""Verify a sexto court bundle with nothing but the Python standard library (3.8+).

usage: python verify.py [BUNDLE_FOLDER] [--log-key VKEY] [--witness VKEY ...] [--quorum N]
                        [--kept CHECKPOINT_FILE --consistency PROOF_FILE]
       (default folder: the one this script is in; tlog_check.py must lie beside it)

Checks, in order: that every line of events.jsonl is one JSON object with no key twice,
written exactly in RFC 8785 canonical form (as the log stores it); every event's hash over
the canonical JSON of its envelope without `hash`; every `prevhash` link, from an empty
one at the start; that all events belong to the one case of the manifest, with no id
twice; that the count and the head hash match the manifest; the SHA-256 of every file
listed in the manifest; each protocol file (present, and matching its content-hash id);
that custody.jsonl is exactly the custody derived again from the events; then the
transparency log's evidence: the checkpoint signed by the log's key for its origin and
cosigned by a quorum of witnesses, every event's leaf and inclusion proof to it, the
case's events numbered 0..n-1 and linked leaf to leaf, and the log's signed statement that
the case has exactly these n events up to the checkpoint. Pass the keys published by the
operator (--log-key, --witness) to check against them rather than the bundle's own copy:
without them the bundle is checked against its own keys, which proves nothing about who
runs the log, and the OK line is followed by a WARNING saying so (the exit code is 0 all
the same: the bundle is consistent with itself). The quorum is never below 1, and never
taken from the bundle when witnesses are pinned (then 1 unless --quorum says more).
With --kept (a checkpoint kept from earlier) and --consistency (the proof between the two
sizes, as `sexto proof consistency` prints it), the bundle's tree must extend the kept one.
Prints every failure, naming the event (position and id), and exits 1; exits 0 if all hold.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import math
import re
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__:  # imported as sexto_legal.bundle_verify
    from sexto_legal import tlog_check
else:  # run as verify.py in a bundle folder: tlog_check.py lies beside it
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tlog_check  # type: ignore[import-not-found, no-redef]

EVENTS = "events.jsonl"
MANIFEST = "manifest.json"
CUSTODY = "custody.jsonl"
CHECKPOINT = "transparency/checkpoint.txt"
CASE_HEAD = "transparency/case-head.txt"
PROOFS = "transparency/proofs.jsonl"


UNPINNED = (
    "keys not pinned: checked against the log and witness keys written in the bundle "
    "itself, which proves nothing about who runs the log or who witnessed it; run again "
    "with --log-key and --witness set to the keys the operator and witnesses published"
)


class Unreadable(ValueError):
    """A file or line that is not the JSON it must be."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise Unreadable(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise Unreadable(f"{name} is not JSON")


def strict_loads(text: str | bytes) -> Any:
    """Parse JSON refusing what a lenient parser accepts: a key twice, NaN, Infinity."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except Unreadable:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise Unreadable(str(exc)) from None


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
            env = strict_loads(line)
            if not isinstance(env, dict):
                raise Unreadable("not an object")
            written = canonical(env).encode("utf-8")
        except (Unreadable, ValueError) as exc:
            found = re.search(rb'"id":"([^"]*)"', line)
            named = f" id {found.group(1).decode(errors='replace')}" if found else ""
            failures.append(f"{where}{named}: not a valid JSON event ({exc}) (altered)")
            return failures, envelopes
        event_id = str(env.get("id"))
        where = f"event {event_id} at position {position} (line {position + 1})"
        if written != line:
            failures.append(
                f"{where}: not written in canonical JSON as the log stores events (altered)"
            )
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
        if not path.is_file():
            failures.append(f"protocol file {name} ({version_id}) is missing")
        elif "sha256:" + sha256_file(path) != version_id:
            failures.append(f"protocol file {name} does not match its id {version_id}")
    for position, env in enumerate(envelopes):
        named = env.get("protocolversion")
        if named and named not in protocols:
            failures.append(
                f"event {env.get('id')} at position {position}: protocol {named} not in the bundle"
            )
    return failures


SECURED = ".intake.device_secured."
REQUESTED = ".escalation.requested."
COLLECTED = ".escalation.kit_collected."


def custody_log(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Custody steps: secured at school, listed for the police, collected (seals checked).

    The exporter writes custody.jsonl with this very function, and the verifier derives it
    again from the events to compare: the file says nothing the events do not.
    """
    out: list[dict[str, Any]] = []
    for position, env in enumerate(envelopes):
        kind = "." + ".".join(str(env.get("type", "")).split(".")[2:4]) + "."
        data = env.get("data")
        data = data if isinstance(data, dict) else {}
        base = {
            "position": position,
            "event_id": env.get("id"),
            "time": env.get("time"),
            "actor": env.get("actor"),
            "actor_role": env.get("actorrole"),
        }
        if kind == SECURED:
            seal = data.get("seal_number")
            out.append(dict(base, step="secured_at_school", holder="school",
                            seal_numbers=[seal] if seal else [],
                            owner_ref=data.get("owner_ref")))  # fmt: skip
        elif kind == REQUESTED:
            out.append(dict(base, step="listed_for_police", holder="school",
                            seal_numbers=list(data.get("seal_numbers", []))))  # fmt: skip
        elif kind == COLLECTED:
            seals = [s for s in data.get("seals", []) if isinstance(s, dict)]
            out.append(dict(base, step="collected_by_police", holder="police",
                            officer_ref=data.get("officer_ref"),
                            seal_numbers=[s.get("seal_number") for s in seals],
                            broken_seals=[s.get("seal_number") for s in seals
                                          if not s.get("intact")],
                            missing_seals=list(data.get("missing_seals", [])),
                            unexpected_seals=list(data.get("unexpected_seals", [])),
                            flagged=bool(data.get("flagged"))))  # fmt: skip
    return out


def check_custody(folder: Path, envelopes: list[dict[str, Any]]) -> list[str]:
    """Failures of custody.jsonl against the custody derived again from the events."""
    path = folder / CUSTODY
    if not path.is_file():
        return [f"file {CUSTODY} is missing"]
    failures = []
    steps: list[Any] = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            steps.append(strict_loads(line))
        except Unreadable as exc:
            failures.append(f"custody line {number} is not valid JSON ({exc})")
            steps.append(None)
    derived = custody_log(envelopes)
    for index in range(min(len(steps), len(derived))):  # no zip(strict=): Python 3.8
        number, step, expected = index + 1, steps[index], derived[index]
        if step is not None and step != expected:
            failures.append(
                f"custody line {number} does not match event {expected.get('event_id')} at "
                f"position {expected.get('position')} it must come from (altered)"
            )
    if len(steps) != len(derived):
        failures.append(
            f"custody.jsonl has {len(steps)} lines, the events give {len(derived)} custody steps"
        )
    return failures


def _event_name(line: bytes, position: int) -> str:
    found = re.search(rb'"id":"([^"]*)"', line)
    named = f" {found.group(1).decode(errors='replace')}" if found else ""
    return f"event{named} at position {position}"


def _quorum(pins: argparse.Namespace, info: dict[str, Any]) -> int:
    """Cosignatures required: never fewer than one, and never the bundle's own say when the
    reviewer pinned witnesses (whoever edits the folder could write quorum 0)."""
    if pins.quorum is not None:
        wanted = int(pins.quorum)
    elif pins.witness:
        wanted = 1
    else:
        wanted = int(info.get("quorum", 1))
    if wanted < 1:
        raise tlog_check.ProofError(
            f"a quorum of {wanted} witness cosignatures proves nothing: at least 1 is required"
        )
    return wanted


def _open_evidence(
    read: Callable[[str], bytes], manifest: dict[str, Any], pins: argparse.Namespace
) -> tuple[tlog_check.VerifierKey, tlog_check.Checkpoint, list[str]]:
    """The log's key, the checkpoint, and the quorum failures (if any)."""
    info = manifest.get("transparency")
    if not isinstance(info, dict):
        raise tlog_check.ProofError(
            "no transparency evidence in this bundle: nothing proves these are all of the "
            "case's events, nor that the log was not rewritten"
        )
    log_key = tlog_check.parse_vkey(pins.log_key or str(info.get("log_key")))
    witnesses = [tlog_check.parse_vkey(str(v)) for v in pins.witness or info.get("witnesses", [])]
    quorum = _quorum(pins, info)
    note = read(CHECKPOINT)
    checkpoint = tlog_check.open_checkpoint(note, log_key, str(info.get("origin")))
    failures = []
    try:
        tlog_check.require_quorum(note, witnesses, quorum)
    except tlog_check.ProofError as exc:
        failures.append(f"checkpoint: {exc}")
    return log_key, checkpoint, failures


def _check_leaves(
    lines: list[bytes], manifest: dict[str, Any], checkpoint: tlog_check.Checkpoint,
    proofs: list[Any],
) -> tuple[list[str], int | None]:  # fmt: skip
    """Failures of the events' leaves and inclusion proofs; the last event's leaf index."""
    failures = []
    if len(proofs) != len(lines):
        failures.append(f"{PROOFS} has {len(proofs)} proofs for {len(lines)} events")
    previous: int | None = None
    for position in range(min(len(lines), len(proofs))):  # zip(strict=) needs Python 3.10
        line, proof = lines[position], proofs[position]
        where = _event_name(line, position)
        try:
            index, seq = int(proof["index"]), int(proof["seq"])
            case_index, prev = int(proof["case_index"]), proof["prev_leaf"]
            hashes = [base64.b64decode(h, validate=True) for h in proof["proof"]]
        except (KeyError, TypeError, ValueError, binascii.Error):
            failures.append(f"{where}: its line in {PROOFS} is malformed")
            continue
        if case_index != position:
            failures.append(
                f"{where}: the log numbers it {case_index} among the case's events "
                "(events missing before it, or reordered)"
            )
        if prev != previous:
            failures.append(
                f"{where}: the log links it to leaf {prev}, the bundle's previous event is "
                f"leaf {previous} (an event is missing or reordered)"
            )
        leaf = tlog_check.event_leaf(
            seq, manifest["territory"], manifest["case_id"], case_index,
            prev if isinstance(prev, int) else None, line,
        )  # fmt: skip
        try:
            tlog_check.verify_inclusion(
                index, checkpoint.size, tlog_check.leaf_hash(leaf), hashes, checkpoint.root
            )
        except tlog_check.ProofError as exc:
            failures.append(f"{where}: not in the log as signed: {exc}")
        previous = index
    return failures, previous


def check_transparency(
    read: Callable[[str], bytes],
    manifest: dict[str, Any],
    lines: list[bytes],
    pins: argparse.Namespace,
) -> tuple[list[str], list[str]]:
    """Failures of the transparency evidence (its files given by `read`), and what a
    reviewer keeps when it holds."""
    try:
        log_key, checkpoint, failures = _open_evidence(read, manifest, pins)
        proofs = [strict_loads(p) for p in read(PROOFS).splitlines() if p]
        head = tlog_check.parse_case_head(tlog_check.verify_note(read(CASE_HEAD), log_key))
    except (tlog_check.ProofError, OSError, Unreadable, ValueError) as exc:
        return [f"transparency: {exc}"], []
    leaf_failures, last_leaf = _check_leaves(lines, manifest, checkpoint, proofs)
    failures += leaf_failures
    if (head.origin, head.size, head.root) != (checkpoint.origin, checkpoint.size, checkpoint.root):
        failures.append("the case head statement is not about the bundle's checkpoint")
    if (head.territory, head.case_id) != (manifest["territory"], manifest["case_id"]):
        failures.append("the case head statement is about another case")
    if head.case_size != len(lines):
        failures.append(
            f"the log says the case has {head.case_size} events up to tree size "
            f"{checkpoint.size}, the bundle holds {len(lines)} (events missing or added)"
        )
    elif head.last_leaf != last_leaf:
        failures.append(
            f"the log says the case's last event is leaf {head.last_leaf}, the bundle's "
            f"is leaf {last_leaf} (the last event is missing or replaced)"
        )
    kept = [
        f"checkpoint: {checkpoint.origin}, tree size {checkpoint.size}, root "
        f"{base64.b64encode(checkpoint.root).decode()} (keep {CHECKPOINT})",
        f"log key: {log_key.vkey()}",
        f"case head: leaf {last_leaf} of that checkpoint, event hash {manifest['head_hash']}",
    ]
    return failures, kept


def _manifest_problems(manifest: Any) -> list[str]:
    if not isinstance(manifest, dict):
        return ["manifest.json is not a JSON object"]
    kinds = {"case_id": str, "territory": str, "event_count": int, "head_hash": str,
             "files": dict, "protocols": dict}  # fmt: skip
    return [
        f"manifest.json: `{key}` is missing or not a {kind.__name__}"
        for key, kind in kinds.items()
        if not isinstance(manifest.get(key), kind)
    ]


def check_kept(
    read: Callable[[str], bytes], manifest: dict[str, Any], pins: argparse.Namespace
) -> list[str]:
    """Failures of the consistency between the bundle's checkpoint and one the reviewer kept
    from earlier (`--kept`, a signed checkpoint file), by the consistency proof between
    their sizes (`--consistency`, the base64 hashes `sexto proof consistency` prints):
    the log only grew between the two, nothing in what the reviewer saw was rewritten."""
    if not pins.kept:
        return []
    try:
        log_key, checkpoint, _ = _open_evidence(read, manifest, pins)
        origin = str(manifest["transparency"].get("origin"))
        kept = tlog_check.open_checkpoint(Path(pins.kept).read_bytes(), log_key, origin)
        text = Path(pins.consistency).read_text(encoding="ascii") if pins.consistency else ""
        proof = [base64.b64decode(line, validate=True) for line in text.split()]
        older, newer = sorted((kept, checkpoint), key=lambda c: c.size)
        tlog_check.verify_consistency(older.size, newer.size, older.root, newer.root, proof)
    except (tlog_check.ProofError, OSError, ValueError) as exc:
        return [f"kept checkpoint: {exc}"]
    return []


def no_pins() -> argparse.Namespace:
    """Keys taken from the evidence itself (the caller compares them with the published)."""
    return argparse.Namespace(log_key=None, witness=None, quorum=None, kept=None, consistency=None)


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="verify.py", description="Verify a sexto court bundle.")
    parser.add_argument("folder", nargs="?", help="the bundle (default: this script's folder)")
    parser.add_argument("--log-key", help="the log's published verifier key")
    parser.add_argument("--witness", action="append", help="a trusted witness's verifier key")
    parser.add_argument(
        "--quorum", type=int,
        help="distinct witnesses whose cosignatures are required, at least 1 (default: 1 "
        "with --witness, else the manifest's, never below 1)",
    )  # fmt: skip
    parser.add_argument(
        "--kept", help="a checkpoint you kept earlier: the bundle's must be consistent with it",
    )  # fmt: skip
    parser.add_argument(
        "--consistency", help="the consistency proof between the two sizes, as `sexto proof "
        "consistency --from <smaller> --to <larger>` prints it (none for equal sizes)",
    )  # fmt: skip
    return parser.parse_args(argv[1:])


def main(argv: list[str]) -> int:
    """Verify the bundle in argv[1] (or beside this script); print the outcome."""
    pins = _arguments(argv)
    folder = Path(pins.folder) if pins.folder else Path(__file__).resolve().parent
    try:
        manifest = strict_loads((folder / MANIFEST).read_bytes())
        problems = _manifest_problems(manifest)
        lines = [line for line in (folder / EVENTS).read_bytes().split(b"\n") if line.strip()]
    except (OSError, Unreadable) as exc:
        problems, lines = [f"cannot read the bundle: {exc}"], []
    if problems:
        print(f"FAILED: the bundle in {folder} cannot be verified:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    failures, envelopes = check_events(lines, manifest)
    failures += check_files(folder, manifest)
    failures += check_protocols(folder, manifest, envelopes)
    failures += check_custody(folder, envelopes)
    transparency, kept = check_transparency(
        lambda name: (folder / name).read_bytes(), manifest, lines, pins
    )
    failures += transparency
    failures += check_kept(lambda name: (folder / name).read_bytes(), manifest, pins)
    if failures:
        print(f"FAILED: case {manifest['case_id']} does not verify:")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print(
        f"OK: {len(lines)} events of case {manifest['case_id']} verified; "
        f"head hash {manifest['head_hash']}"
    )
    for line in kept:
        print(f"  {line}")
    if not pins.log_key or not pins.witness:
        print(f"WARNING: {UNPINNED}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Legal review: a case's history, the verification of chains, the court bundle."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer
from rich.markup import escape
from rich.table import Table
from sexto_events.chain import ChainReport
from sexto_events.direct_get import StoredMessage
from sexto_events.disclosure import POLICY_VERSION, Viewer
from sexto_events.envelope import disclose_event
from sexto_events.recording import record_read
from sexto_legal.access import Tool
from sexto_legal.export import build_bundle
from sexto_legal.history import case_history
from sexto_legal.locate import locate_case
from sexto_legal.transparency.api import TreeFault, TreeUnavailable
from sexto_legal.transparency.evidence import EvidenceMismatch, case_evidence
from sexto_legal.transparency.store import ProofRequestError
from sexto_legal.verification import LogVerification, verify_case, verify_log

from sexto_cli.command import run
from sexto_cli.commands.transparency import tree_of
from sexto_cli.failures import clear_errors
from sexto_cli.options import parse_time
from sexto_cli.output import console, errors, progress
from sexto_cli.session import Session


class Transparency(NamedTuple):
    """A case's transparency evidence as checked, in lines for the reader."""

    failures: list[str]
    kept: list[str]
    unchecked: list[str]  # why the tree could not be asked (then nothing else)


def _chain_line(case_id: Any, report: ChainReport) -> str:
    """A chain's verification; the case and event ids as given (disclosed by the caller)."""
    case = escape(str(case_id))
    if report.ok:
        return f"[green]chain verified[/green]: {report.count} events of case {case}"
    return (
        f"[red]chain BROKEN[/red] in case {case} at position {report.position} "
        f"(event {escape(str(report.event_id))}): {escape(str(report.reason))}"
    )


def _shown_chain(
    viewer: Viewer, case_id: str, report: ChainReport, territory: str | None = None
) -> str:
    """`_chain_line` for this reader: the case (with its territory when given) and the first
    bad event's id disclosed by their classes (an envelope's subject, territory and id)."""
    named = {"subject": case_id, "id": report.event_id or ""}
    shown = disclose_event(viewer, named | ({"territory": territory} if territory else {}), None)
    case = _text(shown["subject"])
    if territory is not None:
        case = f"{_text(shown['territory'])}/{case}"
    event_id = _text(shown["id"]) if report.event_id else None
    return _chain_line(case, replace(report, event_id=event_id))


def _disclosed_lines(
    viewer: Viewer, case_id: str, stored: list[StoredMessage], lines: list[str]
) -> list[str]:
    """Transparency lines for this reader: each of the case's event ids and hashes (and the
    case id) they name replaced by what the disclosure policy shows of it (an analyst gets
    the keyed pseudonym of a hash, an admin a withheld mark)."""
    raw: dict[str, str] = {}
    for message in stored:
        envelope = json.loads(message.body)
        named = {"subject": case_id, "id": str(envelope.get("id", "")),
                 "hash": str(envelope.get("hash", ""))}  # fmt: skip
        shown = disclose_event(viewer, named, None)
        raw |= {named[k]: _text(shown[k]) for k in named if named[k]}
    pattern = re.compile("|".join(re.escape(r) for r in sorted(raw, key=len, reverse=True)))
    return [pattern.sub(lambda m: raw[m.group(0)], line) if raw else line for line in lines]


def _text(value: Any) -> str:
    """A disclosed value as printed: itself, or its placeholder as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


# --- history, verify, export --------------------------------------------------------


def history(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(metavar="CASE")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="only what was recorded by then")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """The case's timeline, chain verified, as your role may see it (legal reviewers: in
    clear; analysts: keyed pseudonyms and bands, personal data withheld)."""
    moment = parse_time(as_of) if as_of else None

    async def work(session: Session) -> Any:
        case = await locate_case(session.nc, session.spec, case_id)
        await record_read(session.store, session.principal, case, "history", "legal")
        return await case_history(session.store, case, as_of=moment, viewer=session.viewer())

    found = run(ctx, Tool.HISTORY, work)
    chain = found.chain
    broken_event = found.broken_event_id
    if as_json:
        entries = [
            {"seq": e.seq, "id": e.id, "time": e.time, "type": e.type, "actor": e.actor,
             "actor_role": e.actor_role, "protocol_version": e.protocol_version, "data": e.data}
            for e in found.entries
        ]  # fmt: skip
        console.print_json(
            data={"case_id": found.case_id, "as_of": as_of, "chain_verified": chain.ok,
                  "broken_at": chain.position, "broken_event_id": broken_event,
                  "reason": chain.reason, "head_hash": found.head_hash,
                  "personal_data_shown": found.personal_data_shown, "events": entries}
        )  # fmt: skip
    else:
        title = f"case {_text(found.case_id)}" + (f" as of {as_of}" if as_of else "")
        table = Table(title=escape(title), show_lines=False)
        for column in ("#", "time", "actor", "role", "event", "summary"):
            table.add_column(column, overflow="fold")
        for position, e in enumerate(found.entries):
            mark = f"{position} [red]BROKEN[/red]" if position == chain.position else str(position)
            event = ".".join(str(e.type).split(".")[2:])
            cells = (_text(e.time), _text(e.actor), _text(e.actor_role), event, e.summary)
            table.add_row(mark, *(escape(cell) for cell in cells))
        console.print(table)
        event_id = None if broken_event is None else _text(broken_event)
        console.print(_chain_line(_text(found.case_id), replace(chain, event_id=event_id)))
        if not found.personal_data_shown:
            console.print(
                "personal data withheld; references and actors pseudonymised, ages and grades "
                f"in bands (disclosure policy version {POLICY_VERSION})"
            )
    if not chain.ok:
        raise typer.Exit(1)


def verify(
    ctx: typer.Context,
    case_id: Annotated[str | None, typer.Option("--case", help="one case")] = None,
    every: Annotated[bool, typer.Option("--all", help="every case of the log")] = False,
) -> None:
    """Verify hash chains; report the first broken position of each case. For one case,
    also its transparency evidence: the case's head and the checkpoint that includes it.

    Cases, events and hashes are named as your role may see them (analysts: keyed
    pseudonyms; admins, who see no case: withheld, so a break is found with a legal
    reviewer). Exit codes: 0 all verified, 1 a chain broken or transparency evidence
    refused, 2 the chain verified (or not, as printed) but the transparency log could not be
    asked (the tree process down or behind): the transparency part is then unchecked.
    """
    if (case_id is None) == (not every):
        raise typer.BadParameter("give either --case CASE or --all")
    if case_id is not None:

        async def one(session: Session) -> tuple[ChainReport, str, Transparency]:
            case = await locate_case(session.nc, session.spec, case_id)
            report = await verify_case(session.store, case)
            shown = _shown_chain(session.viewer(), case_id, report)
            found: tuple[list[str], list[str], list[str]]
            try:  # the chain's result stands whether or not the tree answers
                evidence = await case_evidence(session.store, tree_of(session), case)
            except (TreeUnavailable, TreeFault, EvidenceMismatch, ProofRequestError) as exc:
                stored, found = await session.store.read_raw(case), ([], [], [str(exc)])
            else:
                stored, found = evidence.stored, (*evidence.check(case), [])
            lines = [_disclosed_lines(session.viewer(), case_id, stored, f) for f in found]
            return report, shown, Transparency(*lines)

        report, line, checked = run(ctx, Tool.VERIFY, one)
        console.print(line)
        for reason in checked.unchecked:
            console.print(f"[yellow]transparency: could not be checked: {escape(reason)}[/yellow]")
        for failure in checked.failures:
            console.print(f"[red]transparency: {escape(failure)}[/red]")
        for held in checked.kept if not checked.failures else []:
            console.print(held, highlight=False, markup=False)
        if not report.ok or checked.failures:
            raise typer.Exit(1)
        if checked.unchecked:
            raise typer.Exit(2)
        return

    async def every_case(session: Session) -> tuple[LogVerification, list[str]]:
        result = await verify_log(session.nc, session.spec, update)
        viewer = session.viewer()
        lines = []
        for key, report in sorted(result.broken.items()):
            territory, _, case = key.partition("/")
            lines.append(_shown_chain(viewer, case, report, territory))
        return result, lines

    with progress("verifying") as update:
        result, lines = run(ctx, Tool.VERIFY, every_case)
    for line in lines:
        console.print(line)
    status = (
        "[green]all chains verified[/green]"
        if result.ok
        else f"[red]{len(result.broken)} broken[/red]"
    )
    console.print(f"{status}: {result.events} events in {result.cases} cases")
    if not result.complete:
        console.print(
            f"[red]INCOMPLETE[/red]: the log held {result.expected} events when the pass "
            f"began, only {result.events} were read: run it again"
        )
    if not result.ok:
        raise typer.Exit(1)


def export(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(metavar="CASE")],
    out: Annotated[Path, typer.Option("--out", help="folder to write the bundle to")],
) -> None:
    """Write a self-verifying court bundle of the case (legal reviewers).

    The events are the stored messages byte for byte (sealed: their hashes must check);
    the personal data beside them is opened and disclosed by your role's row.
    """
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file: give a new folder")
    with clear_errors():
        if out.exists() and any(out.iterdir()):
            raise typer.BadParameter(f"{out} is not empty: give a new folder")

    async def work(session: Session) -> Any:
        case = await locate_case(session.nc, session.spec, case_id)
        await record_read(session.store, session.principal, case, "export", "legal")
        return await build_bundle(
            session.store, case, tree=tree_of(session), exported_by=session.principal,
            viewer=session.viewer(), now=datetime.now(UTC),
        )  # fmt: skip

    bundle = run(ctx, Tool.EXPORT, work)
    with clear_errors():
        bundle.write(out)
    manifest = bundle.manifest
    console.print(f"wrote {len(bundle.files)} files to {out}: {manifest['event_count']} events")
    console.print(f"verify with: python3 {out / 'verify.py'}")
    failed = False
    chain = manifest["chain_at_export"]
    if not chain["ok"]:
        errors.print(
            f"[red]the case's chain does not verify[/red]: broken at position {chain['position']} "
            f"(event {chain['event_id']}): {escape(str(chain['reason']))}; the bundle holds the "
            "events as stored and its manifest records the break (chain_at_export)",
            highlight=False,
        )
        failed = True
    if manifest["not_canonical_at_export"]:
        positions = ", ".join(str(p) for p in manifest["not_canonical_at_export"])
        errors.print(
            f"[red]stored events not written in canonical JSON[/red] at position(s) {positions} "
            "(compact but not key-sorted, as older versions wrote them): their hashes check "
            "once re-encoded, but the bundle's verify.py checks the bytes as stored and "
            "rejects them as altered; the bundle holds them as stored and its manifest lists "
            "them (not_canonical_at_export)",
            highlight=False,
        )
        failed = True
    if manifest["missing_protocols"]:
        missing = ", ".join(manifest["missing_protocols"])
        errors.print(
            f"[red]protocol versions unknown to this software[/red]: {missing}; the bundle "
            "lacks the rules those events name (listed in manifest.json, missing_protocols), "
            "so it does not verify: update sexto and export again",
            highlight=False,
        )
        failed = True
    if failed:
        raise typer.Exit(1)

"""Erasure: shredding a data subject, legal holds, the retention run.

None of these prints a field of a case through the disclosure policy, because none prints a
value of one: `legal-hold` echoes the case id its legal reviewer gave; `shred` and
`retention run` are the operator's erasure bookkeeping (the subject keys deleted, the case
they belong to, the protocol and dates that made a case due), never a name, a text or any
other value of the case. Admins see no case in every other read (DOMAIN.md, "Who sees what").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sexto_events.catalogue.legal import ErasureReason, HoldReason
from sexto_legal.access import Tool
from sexto_legal.erasure import RetentionSettings, retention_run, set_legal_hold, shred_subject
from sexto_legal.locate import locate_case

from sexto_cli.command import run
from sexto_cli.failures import clear_errors
from sexto_cli.options import parse_time
from sexto_cli.output import console, errors, progress, warn
from sexto_cli.session import Session
from sexto_cli.settings import settings_checked


def shred(
    ctx: typer.Context,
    subject: Annotated[
        str, typer.Argument(metavar="SUBJECT", help="case:<case> or student:<case>:<ref>")
    ],
    reason: Annotated[ErasureReason, typer.Option("--reason")],
    reference: Annotated[
        str | None, typer.Option("--reference", help="request or order id")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="erase case:<case> of an open case: every later write of its personal "
            "data will fail",
        ),
    ] = False,
) -> None:
    """Erase a data subject by deleting their key (refused under legal hold; recorded).

    The case's own key (case:<case>) is refused while the case is open, unless --force.
    """
    if force:
        warn(
            f"--force: if the case is open, erasing {subject} "
            "makes every later write of its personal data fail"
        )
    outcome = run(
        ctx,
        Tool.SHRED,
        lambda s: shred_subject(
            s.nc, s.store, s.vault, subject, s.principal, reason=reason, reference=reference,
            force=force,
        ),
    )  # fmt: skip
    gone = "key deleted" if outcome.key_existed else "key was already gone"
    if outcome.finished_earlier_erasure:
        console.print(
            f"the erasure of {subject} in case {outcome.case.case_id} was already on record; "
            f"finished it ({gone})"
        )
        return
    console.print(
        f"shredded {subject} in case {outcome.case.case_id} ({gone}); recorded on the case"
    )
    if outcome.family:
        console.print(f"with them, their parents' addresses: {', '.join(outcome.family)}")


def legal_hold(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(metavar="CASE")],
    state: Annotated[str, typer.Argument(metavar="on|off")],
    reason: Annotated[HoldReason, typer.Option("--reason", help="why (on); the hold's (off)")],
    reference: Annotated[
        str | None, typer.Option("--reference", help="court or inquiry file id")
    ] = None,
) -> None:
    """Place (on) or release (off) a legal hold on a case (legal reviewers).

    A release names the hold it releases: the same --reason and --reference it was placed
    with.
    """
    if state not in ("on", "off"):
        raise typer.BadParameter("state is on or off")

    async def work(session: Session) -> bool:
        case = await locate_case(session.nc, session.spec, case_id)
        return await set_legal_hold(
            session.store,
            case,
            session.principal,
            on=state == "on",
            reason=reason,
            reference=reference,
        )

    changed = run(ctx, Tool.LEGAL_HOLD, work)
    verb = "placed" if state == "on" else "released"
    console.print(
        f"legal hold {verb} on case {case_id}" if changed else f"legal hold already {state}"
    )


def retention_run_command(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list, erase nothing")] = False,
    now: Annotated[str | None, typer.Option("--now", help="evaluate as of this time")] = None,
) -> None:
    """Erase (crypto-shred) cases whose retention after closure has run out."""
    moment = parse_time(now) if now else datetime.now(UTC)
    with clear_errors(), settings_checked():
        settings = RetentionSettings()
    with progress("retention") as update:
        decisions = run(
            ctx,
            Tool.RETENTION,
            lambda s: retention_run(s.nc, s.store, s.vault, s.principal, settings=settings,
                                    now=moment, dry_run=dry_run, progress=update),
        )  # fmt: skip
    table = Table(title="retention" + (" (dry run)" if dry_run else ""))
    for column in ("case", "protocol", "closed", "due", "action", "subjects", "note"):
        table.add_column(column, overflow="fold")
    for d in decisions:
        due = d.due.isoformat() if d.due else "-"
        action = f"[red]{d.action}[/red]" if d.action in ("chain_broken", "failed") else d.action
        table.add_row(
            d.case.case_id,
            escape(d.protocol),
            d.closed_at.isoformat(),
            due,
            action,
            str(len(d.subject_keys)),
            escape(d.note),
        )
    console.print(table)
    console.print(json.dumps({"years": settings.years}))
    troubled = [d for d in decisions if d.action in ("chain_broken", "failed")]
    if troubled:
        errors.print(
            f"[red]{len(troubled)} case(s) not handled[/red] (chain_broken or failed): "
            "see the note column; the other cases were handled",
            highlight=False,
        )
        raise typer.Exit(1)

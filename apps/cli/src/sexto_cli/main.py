"""The `sexto` command line: thin typer commands over sexto_legal.

Every command acts as a verified caller (--token / SEXTO_TOKEN; --role in development)
and connects with the services' settings (SEXTO_NATS_URL, SEXTO_DATABASE_URL,
SEXTO_MASTER_KEY). Exit codes: 0 done, 1 a verification failed, 2 refused or bad input.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import asyncpg
import nats.errors
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sexto_events.catalogue.legal import ErasureReason, HoldReason
from sexto_events.chain import ChainReport
from sexto_events.errors import EventLogError
from sexto_events.model import CaseRef
from sexto_events.recording import record_read
from sexto_legal.access import NotAllowed, Tool, require, reveals_personal_data
from sexto_legal.erasure import (
    RetentionSettings,
    retention_run,
    set_legal_hold,
    shred_subject,
)
from sexto_legal.export import build_bundle
from sexto_legal.history import case_history
from sexto_legal.locate import locate_case
from sexto_legal.replay import BadFilter, ReplayFilter, replay_to_file
from sexto_legal.scan import StreamPosition
from sexto_legal.stats import compute_stats
from sexto_legal.verification import verify_case, verify_log

from sexto_cli.rebuild import SERVICES, rebuild_service
from sexto_cli.session import CliError, Credentials, Session, open_session, settings_checked

app = typer.Typer(
    name="sexto",
    help="Legal review and analysis of the sexto event log.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)
T = TypeVar("T")

TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="SEXTO_TOKEN", help="bearer token of your role", show_default=False
    ),
]
RoleOpt = Annotated[
    str | None,
    typer.Option("--role", help="development only: act with this role via the local issuer"),
]
SubjectOpt = Annotated[
    str | None, typer.Option("--as", help="development only: your pseudonymous id with --role")
]


@app.callback()
def main(
    ctx: typer.Context, token: TokenOpt = None, role: RoleOpt = None, subject: SubjectOpt = None
) -> None:
    """Legal review and analysis of the sexto event log."""
    ctx.obj = Credentials(token=token, role=role, subject=subject)


def _fail(message: str) -> NoReturn:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Every expected failure as one line on stderr and exit code 2, never a traceback."""
    try:
        yield
    except (CliError, NotAllowed, EventLogError, BadFilter) as exc:
        _fail(str(exc))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors(include_input=False)
        )
        _fail(f"invalid {exc.title}: {problems}")
    except nats.errors.NoRespondersError:
        _fail("NATS has no JetStream responder for the request: is the stream there and the "
              "server running with JetStream (SEXTO_NATS_URL, SEXTO_STREAM_NAME)?")  # fmt: skip
    except (TimeoutError, nats.errors.Error) as exc:
        _fail(f"NATS did not answer ({exc or type(exc).__name__}): the server may be "
              "overloaded or unreachable; try again")  # fmt: skip
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _fail(f"PostgreSQL refused the work: {exc}")
    except json.JSONDecodeError as exc:
        _fail(f"unreadable JSON ({exc})")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}")


def _run(ctx: typer.Context, tool: Tool, work: Callable[[Session], Awaitable[T]]) -> T:
    async def go() -> T:
        async with open_session(ctx.obj, allowed=lambda p: require(p, tool)) as session:
            return await work(session)

    with _clear_errors():
        return asyncio.run(go())


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=errors, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise typer.BadParameter("give the time with its offset (e.g. 2026-11-02T10:00:00Z)")
    return moment


def _chain_line(case_id: str, report: ChainReport) -> str:
    if report.ok:
        return f"[green]chain verified[/green]: {report.count} events of case {case_id}"
    return (
        f"[red]chain BROKEN[/red] in case {case_id} at position {report.position} "
        f"(event {report.event_id}): {report.reason}"
    )


# --- history, verify, export --------------------------------------------------------


@app.command()
def history(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(metavar="CASE")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="only what was recorded by then")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """The case's timeline, chain verified; personal data only for legal reviewers."""
    moment = _parse_time(as_of) if as_of else None

    async def work(session: Session) -> Any:
        case = await locate_case(session.nc, session.spec, case_id)
        await record_read(session.store, session.principal, case, "history", "legal")
        return await case_history(
            session.store,
            case,
            as_of=moment,
            reveal=reveals_personal_data(session.principal),
            pseudonyms=session.pseudonyms(),
        )

    found = _run(ctx, Tool.HISTORY, work)
    if as_json:
        entries = [
            {"seq": e.seq, "id": e.id, "time": e.time, "type": e.type, "actor": e.actor,
             "actor_role": e.actor_role, "protocol_version": e.protocol_version, "data": e.data}
            for e in found.entries
        ]  # fmt: skip
        chain = found.chain
        console.print_json(
            data={"case_id": case_id, "as_of": as_of, "chain_verified": chain.ok,
                  "broken_at": chain.position, "broken_event_id": chain.event_id,
                  "reason": chain.reason,
                  "personal_data_shown": found.personal_data_shown, "events": entries}
        )  # fmt: skip
    else:
        title = f"case {case_id}" + (f" as of {as_of}" if as_of else "")
        table = Table(title=title, show_lines=False)
        for column in ("#", "time", "actor", "role", "event", "summary"):
            table.add_column(column, overflow="fold")
        broken_at = found.chain.position
        for position, e in enumerate(found.entries):
            mark = f"{position} [red]BROKEN[/red]" if position == broken_at else str(position)
            table.add_row(mark, escape(e.time), escape(e.actor), escape(e.actor_role),
                          escape(".".join(e.type.split(".")[2:])), escape(e.summary))  # fmt: skip
        console.print(table)
        console.print(_chain_line(case_id, found.chain))
        if not found.personal_data_shown:
            console.print("personal data withheld; refs and actors pseudonymised (role analyst)")
    if not found.chain.ok:
        raise typer.Exit(1)


@app.command()
def verify(
    ctx: typer.Context,
    case_id: Annotated[str | None, typer.Option("--case", help="one case")] = None,
    every: Annotated[bool, typer.Option("--all", help="every case of the log")] = False,
) -> None:
    """Verify hash chains; report the first broken position of each case."""
    if (case_id is None) == (not every):
        raise typer.BadParameter("give either --case CASE or --all")
    if case_id is not None:

        async def one(session: Session) -> ChainReport:
            return await verify_case(
                session.store, await locate_case(session.nc, session.spec, case_id)
            )

        report = _run(ctx, Tool.VERIFY, one)
        console.print(_chain_line(case_id, report))
        if not report.ok:
            raise typer.Exit(1)
        return
    with _progress("verifying") as progress:
        result = _run(ctx, Tool.VERIFY, lambda s: verify_log(s.nc, s.spec, progress))
    for key, report in sorted(result.broken.items()):
        console.print(_chain_line(key, report))
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


@app.command()
def export(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(metavar="CASE")],
    out: Annotated[Path, typer.Option("--out", help="folder to write the bundle to")],
) -> None:
    """Write a self-verifying court bundle of the case (legal reviewers)."""
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file: give a new folder")
    with _clear_errors():
        if out.exists() and any(out.iterdir()):
            raise typer.BadParameter(f"{out} is not empty: give a new folder")

    async def work(session: Session) -> Any:
        case = await locate_case(session.nc, session.spec, case_id)
        await record_read(session.store, session.principal, case, "export", "legal")
        return await build_bundle(
            session.store, case, exported_by=session.principal, now=datetime.now(UTC)
        )

    bundle = _run(ctx, Tool.EXPORT, work)
    with _clear_errors():
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


# --- replay, stats, rebuild ---------------------------------------------------------

_SEQ = re.compile(r"^\d+$")


@app.command()
def replay(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="JSON Lines file to write")],
    since: Annotated[
        str | None, typer.Option("--since", help="stream sequence or ISO time")
    ] = None,
    types: Annotated[
        list[str] | None, typer.Option("--type", help="context.event[.vN]; repeatable")
    ] = None,
    territories: Annotated[list[str] | None, typer.Option("--territory", help="repeatable")] = None,
) -> None:
    """Replay the log to a file: pseudonymised unless your role may see personal data."""
    start = None
    if since is not None and _SEQ.match(since) and int(since) < 1:
        raise typer.BadParameter("stream sequences start at 1: give --since 1 or more")
    if since is not None:
        start = (
            StreamPosition(seq=int(since))
            if _SEQ.match(since)
            else StreamPosition(time=_parse_time(since))
        )
    selection = ReplayFilter(start, tuple(types or ()), tuple(territories or ()))
    with _progress("replaying") as progress:

        async def work(session: Session) -> Any:
            reveal = reveals_personal_data(session.principal)

            async def recorded(case: CaseRef) -> None:
                await record_read(session.store, session.principal, case, "replay", "legal")

            return await replay_to_file(
                session.nc, session.spec, out, selection=selection, pseudonyms=session.pseudonyms(),
                decoder=session.store.decoder if reveal else None,
                record_read=recorded if reveal else None, progress=progress,
            )  # fmt: skip

        summary = _run(ctx, Tool.REPLAY, work)
    shown = "personal data in clear" if summary.personal_data_shown else "pseudonymised"
    console.print(
        f"wrote {summary.events} events to {out} ({shown}); the log was read up to sequence "
        f"{summary.next_seq - 1}: to continue, --since {summary.next_seq}"
    )
    if summary.personal_data_shown:
        console.print(
            f"your read of the {summary.reads_recorded} case(s) whose personal data the file "
            "holds is recorded on each case"
        )


@app.command()
def stats(
    ctx: typer.Context,
    territories: Annotated[list[str] | None, typer.Option("--territory", help="repeatable")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables")] = False,
) -> None:
    """Cases per month, territory and protocol; decisions; time to each milestone."""
    with _progress("counting") as progress:
        figures = _run(
            ctx,
            Tool.STATS,
            lambda s: compute_stats(s.nc, s.spec, territories=territories or (), progress=progress),
        )
    if as_json:
        console.print_json(data=figures.to_json())
        return
    counts = Table(title=f"cases ({figures.cases})")
    for column in ("month (UTC)", "territory", "protocol", "cases"):
        counts.add_column(column)
    for (month, territory, protocol), n in sorted(figures.per_month.items()):
        counts.add_row(month, territory, protocol, str(n))
    console.print(counts)
    decisions = Table(
        title="prosecutor's decisions (latest per student)",
        caption="share: of impulsive + malicious decisions; no_further_action is counted apart",
    )
    decisions.add_column("decision")
    decisions.add_column("students")
    decisions.add_column("share")
    for decision, n in sorted(figures.decisions.items()):
        share = figures.share(decision)
        decisions.add_row(decision, str(n), "-" if share is None else f"{share:.1%}")
    console.print(decisions)
    times = Table(title="hours from discovery")
    for column in ("milestone", "cases", "median", "p90"):
        times.add_column(column)
    for name, f in figures.milestones.items():
        times.add_row(name, str(f.cases), _hours(f.median_hours), _hours(f.p90_hours))
    console.print(times)
    if figures.unreadable:
        errors.print(
            f"[yellow]warning:[/yellow] {figures.unreadable} stored event(s) could not be read "
            "and are left out of these figures (sexto verify finds them)"
        )


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@app.command()
def rebuild(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help=f"one of {', '.join(SERVICES)}")],
    force: Annotated[
        bool,
        typer.Option("--force", help="rebuild even while the service runs (it serves bad tables)"),
    ] = False,
) -> None:
    """Drop a service's read models and rebuild them from the log (admins).

    Stop the service first: refused while it reads its consumers, unless --force.
    """
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}: one of {', '.join(SERVICES)}")
    with _progress(f"rebuilding {service}") as progress:
        rebuilt, skipped = _run(
            ctx,
            Tool.REBUILD,
            lambda s: rebuild_service(s, service, lambda _, d, t: progress(d, t), force=force),
        )
    for each in rebuilt:
        console.print(f"rebuilt {each.durable} up to stream sequence {each.last_seq}")
    for durable in skipped:
        console.print(f"skipped {durable}: a reactor (its effects are events, not tables)")
    if not rebuilt:
        console.print(f"{service} has no read model to rebuild")


# --- erasure ---------------------------------------------------------------------


@app.command()
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
        errors.print(
            f"[yellow]warning:[/yellow] --force: if the case is open, erasing {escape(subject)} "
            "makes every later write of its personal data fail",
            highlight=False,
        )
    outcome = _run(
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


@app.command("legal-hold")
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

    changed = _run(ctx, Tool.LEGAL_HOLD, work)
    verb = "placed" if state == "on" else "released"
    console.print(
        f"legal hold {verb} on case {case_id}" if changed else f"legal hold already {state}"
    )


retention = typer.Typer(help="Retention of personal data after closure.", no_args_is_help=True)
app.add_typer(retention, name="retention")


@retention.command("run")
def retention_run_command(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list, erase nothing")] = False,
    now: Annotated[str | None, typer.Option("--now", help="evaluate as of this time")] = None,
) -> None:
    """Erase (crypto-shred) cases whose retention after closure has run out."""
    moment = _parse_time(now) if now else datetime.now(UTC)
    with _clear_errors(), settings_checked():
        settings = RetentionSettings()
    with _progress("retention") as progress:
        decisions = _run(
            ctx,
            Tool.RETENTION,
            lambda s: retention_run(s.nc, s.store, s.vault, s.principal, settings=settings,
                                    now=moment, dry_run=dry_run, progress=progress),
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

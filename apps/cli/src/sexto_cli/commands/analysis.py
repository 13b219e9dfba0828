"""Analysis and upkeep: replaying the log to a file, statistics, rebuilding read models."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sexto_events.model import CaseRef
from sexto_events.recording import record_read
from sexto_legal.access import Tool
from sexto_legal.analytics.export import export_analytics
from sexto_legal.analytics.report import render_report
from sexto_legal.disclosed import opens_personal_data
from sexto_legal.replay import ReplayFilter, replay_to_file
from sexto_legal.scan import StreamPosition
from sexto_legal.stats import Statistics, compute_stats

from sexto_cli.command import run
from sexto_cli.options import parse_time
from sexto_cli.output import console, progress, warn
from sexto_cli.rebuild import SERVICES, rebuild_service
from sexto_cli.session import Session

_SEQ = re.compile(r"^\d+$")


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
    """Replay the log to a file, each event as your role may see it (analysts: keyed
    pseudonyms and bands, personal data withheld; legal reviewers: opened, on record)."""
    start = None
    if since is not None and _SEQ.match(since) and int(since) < 1:
        raise typer.BadParameter("stream sequences start at 1: give --since 1 or more")
    if since is not None:
        start = (
            StreamPosition(seq=int(since))
            if _SEQ.match(since)
            else StreamPosition(time=parse_time(since))
        )
    selection = ReplayFilter(start, tuple(types or ()), tuple(territories or ()))
    with progress("replaying") as update:

        async def work(session: Session) -> Any:
            viewer = session.viewer()

            async def recorded(case: CaseRef) -> None:
                await record_read(session.store, session.principal, case, "replay", "legal")

            return await replay_to_file(
                session.nc, session.spec, out, selection=selection, viewer=viewer,
                decoder=session.store.decoder,
                record_read=recorded if opens_personal_data(viewer) else None, progress=update,
            )  # fmt: skip

        summary = run(ctx, Tool.REPLAY, work)
    shown = (
        "personal data in clear"
        if summary.personal_data_shown
        else "as your role may see it: personal data withheld, references pseudonymised"
    )
    console.print(
        f"wrote {summary.events} events to {out} ({shown}); the log was read up to sequence "
        f"{summary.next_seq - 1}: to continue, --since {summary.next_seq}"
    )
    if summary.personal_data_shown:
        console.print(
            f"your read of the {summary.reads_recorded} case(s) whose personal data the file "
            "holds is recorded on each case"
        )


def stats(
    ctx: typer.Context,
    territories: Annotated[list[str] | None, typer.Option("--territory", help="repeatable")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables")] = False,
) -> None:
    """Cases per month, territory and protocol; decisions; time to each milestone.

    Aggregates only: counts and hours over every case counted, never a case id, a student
    ref, an actor or any field of one case, so nothing here is disclosed field by field.
    """
    figures = _figures(ctx, territories)
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
    for title, column, counted in (
        ("overdue steps (deadline breaches)", "step", figures.overdue),
        ("UK path outcomes (uk-dsl cases referred to each agency)", "outcome", figures.uk_outcomes),
    ):
        table = Table(title=title)
        table.add_column(column)
        table.add_column("count")
        for name, n in sorted(counted.items()):
            table.add_row(name, str(n))
        console.print(table)
    _warn_unreadable(figures)


def _figures(ctx: typer.Context, territories: list[str] | None) -> Statistics:
    """The figures `stats` prints and `report` draws: one computation for both."""
    with progress("counting") as update:
        return run(
            ctx,
            Tool.STATS,
            lambda s: compute_stats(s.nc, s.spec, territories=territories or (), progress=update),
        )


def _warn_unreadable(figures: Statistics) -> None:
    if figures.unreadable:
        warn(
            f"{figures.unreadable} stored event(s) could not be read "
            "and are left out of these figures (sexto verify finds them)"
        )


def report(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="HTML file to write")],
    territories: Annotated[list[str] | None, typer.Option("--territory", help="repeatable")] = None,
) -> None:
    """The figures of `sexto stats` as one self-contained HTML page (charts drawn inline,
    the figures embedded as JSON; nothing fetched when it is viewed). Aggregates only."""
    figures = _figures(ctx, territories)
    scope = (
        "territories " + ", ".join(sorted(set(territories))) if territories else "every territory"
    )
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    out.write_text(render_report(figures, generated_at=generated, scope=scope), encoding="utf-8")
    console.print(f"wrote the report of {figures.cases} case(s) to {out}")
    _warn_unreadable(figures)


def export_analytics_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="folder of the export (made if new)")],
) -> None:
    """Pseudonymised Parquet tables for analysts (one per event type, `cases`, `students`),
    written incrementally: each run adds a partition from the last run's watermark.

    See docs/analytics.md for the tables, their columns and how to read them."""
    with progress("exporting") as update:
        summary = run(
            ctx,
            Tool.ANALYTICS,
            lambda s: export_analytics(s.nc, s.store, out, viewer=s.viewer(), progress=update),
        )
    done = summary.record
    if done is None:
        console.print(f"{out} is up to date: nothing after stream sequence {summary.watermark}")
        _warn_pending(summary.pending)
        return
    console.print(
        f"run {done.run}: {done.events} events (sequences {done.from_seq}-{done.to_seq}), "
        f"{done.cases} case row(s), {done.students} student row(s) written to {out}; "
        f"{done.withdrawn_students} shredded student(s) withdrawn ({done.withdrawn_rows} "
        f"row(s), {done.withdrawn_cells} value(s))"
    )
    if done.retried:
        console.print(
            f"{done.retried} earlier unreadable event(s) tried again; "
            f"{done.events} event(s) exported in all"
        )
    _warn_pending(summary.pending)


def _warn_pending(pending: int) -> None:
    if pending:
        warn(
            f"{pending} stored event(s) could not be read and are left out for now: the "
            "manifest keeps them and every run tries them again (a newer sexto may read them)"
        )


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def rebuild(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help=f"one of {', '.join(SERVICES)}")],
    force: Annotated[
        bool,
        typer.Option("--force", help="rebuild even while the service runs (it serves bad tables)"),
    ] = False,
) -> None:
    """Drop a service's read models and rebuild them from the log (admins).

    Stop the service first: refused while it reads its consumers, unless --force. Prints
    consumer names and stream sequences only, no case data.
    """
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}: one of {', '.join(SERVICES)}")
    with progress(f"rebuilding {service}") as update:
        rebuilt, skipped = run(
            ctx,
            Tool.REBUILD,
            lambda s: rebuild_service(s, service, lambda _, d, t: update(d, t), force=force),
        )
    for each in rebuilt:
        console.print(f"rebuilt {each.durable} up to stream sequence {each.last_seq}")
    for durable in skipped:
        console.print(f"skipped {durable}: a reactor (its effects are events, not tables)")
    if not rebuilt:
        console.print(f"{service} has no read model to rebuild")

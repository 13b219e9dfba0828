"""The `sexto` command line: thin typer commands over sexto_legal.

Every command acts as a verified caller (--token / SEXTO_TOKEN; --role in development)
and connects with the services' settings (SEXTO_NATS_URL, SEXTO_DATABASE_URL,
SEXTO_MASTER_KEY); where the addresses are not set, it finds the stack of `make run`
(sexto_cli.stack). Exit codes: 0 done, 1 a verification failed, 2 refused or bad input.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sexto_cli.caller import Credentials
from sexto_cli.commands import analysis, erasure, review, transparency

app = typer.Typer(
    name="sexto",
    help="Legal review and analysis of the sexto event log.",
    no_args_is_help=True,
    add_completion=False,
)

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
ScopeOpt = Annotated[
    str | None,
    typer.Option(
        "--scope",
        help="development only: the school or territory of a school, police or "
        "prosecutor role, with --role",
    ),
]
ActorOpt = Annotated[
    str | None, typer.Option("--as", help="development only: your pseudonymous id with --role")
]


@app.callback()
def main(
    ctx: typer.Context,
    token: TokenOpt = None,
    role: RoleOpt = None,
    actor: ActorOpt = None,
    scope: ScopeOpt = None,
) -> None:
    """Legal review and analysis of the sexto event log."""
    ctx.obj = Credentials(token=token, role=role, actor=actor, scope=scope)


app.command()(review.history)
app.command()(review.verify)
app.command()(review.export)
app.command()(analysis.replay)
app.command()(analysis.stats)
app.command()(analysis.report)
app.command("export-analytics")(analysis.export_analytics_command)
app.command()(analysis.rebuild)
app.command()(erasure.shred)
app.command("legal-hold")(erasure.legal_hold)

retention = typer.Typer(help="Retention of personal data after closure.", no_args_is_help=True)
retention.command("run")(erasure.retention_run_command)
app.add_typer(retention, name="retention")

app.command()(transparency.checkpoint)
proof = typer.Typer(help="Proofs of the transparency log.", no_args_is_help=True)
proof.command("inclusion")(transparency.inclusion)
proof.command("consistency")(transparency.consistency)
app.add_typer(proof, name="proof")

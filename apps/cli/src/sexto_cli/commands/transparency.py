"""The transparency log: its newest checkpoint and proofs, for legal reviewers."""

from __future__ import annotations

from typing import Annotated

import typer
from sexto_legal.access import Tool
from sexto_legal.transparency.api import TreeClient, b64

from sexto_cli.command import run
from sexto_cli.output import console
from sexto_cli.session import Session


def tree_of(session: Session) -> TreeClient:
    """The tree process's client on the session's NATS connection."""
    return TreeClient(session.nc, session.spec.name)


def checkpoint(ctx: typer.Context) -> None:
    """Print the newest signed, cosigned checkpoint: keep it, and check later bundles and
    proofs against it."""

    async def work(session: Session) -> bytes:
        return await tree_of(session).checkpoint()

    console.print(run(ctx, Tool.PROOF, work).decode(), end="", highlight=False, markup=False)


Count = Annotated[int, typer.Option(min=0, help="a tree size (a number of leaves)")]


def inclusion(
    ctx: typer.Context,
    index: Annotated[int, typer.Option(min=0, help="the leaf's index")],
    size: Count,
) -> None:
    """Print the inclusion proof of a leaf in a tree size (base64 hashes, one a line)."""

    async def work(session: Session) -> list[bytes]:
        return await tree_of(session).inclusion(index, size)

    for line in b64(run(ctx, Tool.PROOF, work)):
        console.print(line, highlight=False)


def consistency(
    ctx: typer.Context,
    first: Annotated[int, typer.Option("--from", min=0, help="the older tree size")],
    second: Annotated[int, typer.Option("--to", min=0, help="the newer tree size")],
) -> None:
    """Print the consistency proof between two tree sizes (base64 hashes, one a line)."""

    async def work(session: Session) -> list[bytes]:
        return await tree_of(session).consistency(first, second)

    for line in b64(run(ctx, Tool.PROOF, work)):
        console.print(line, highlight=False)

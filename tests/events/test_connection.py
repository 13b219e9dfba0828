"""A cluster's servers in one setting: the list, and credentials for every node."""

from __future__ import annotations

from sexto_events.connection import server_urls, url_credentials


def test_a_comma_separated_setting_lists_every_node_in_order() -> None:
    urls = "nats://127.0.0.1:4222, nats://127.0.0.1:4223,,nats://127.0.0.1:4224"
    assert server_urls(urls) == [
        "nats://127.0.0.1:4222",
        "nats://127.0.0.1:4223",
        "nats://127.0.0.1:4224",
    ]
    assert server_urls("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]


def test_credentials_in_the_urls_become_the_clients_for_every_server() -> None:
    urls = ["nats://127.0.0.1:4222", "nats://intake:s%40cret@127.0.0.1:4223"]
    assert url_credentials(urls) == {"user": "intake", "password": "s@cret"}
    assert url_credentials(["nats://127.0.0.1:4222"]) == {}

"""NATS users and permissions, generated from the directory's territories.

    python -m sexto_devstack.accounts deploy/seed/directory.json > deploy/nats/accounts.conf

Services share the SEXTO account (they read the whole case log: their read models need
it) and each may publish events of its own contexts only; no service nor the tree may
delete, change or purge a stream, delete a message, or touch a police consumer. Every
user receives replies on an inbox prefix of its own (`_INBOX_<user>`, set on connect from
the URL's user), so none can read or forge another's replies (JetStream acks).
Each police force's integration `dispatch-<territory>` may only create a pull consumer
whose filter is its own territory's escalations (the filter is in the API subject, where a
permission can check it), pull and acknowledge on that consumer, and receive replies on
its own inbox: it can neither publish events, nor read another territory, nor use direct
gets (which read any subject of the stream).
Passwords are references to environment variables (`$INTAKE_NATS_PASSWORD`), resolved by
nats-server at start; production uses nkeys or JWTs the same way.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sexto_events.inbox import inbox_prefix

STREAM = "CASES"
ROOT = "cases"
# The contexts of the events each writer records (each also records reads: `audit`).
WRITERS: Mapping[str, Sequence[str]] = {
    "intake": ("intake", "audit"),
    "evaluation": ("evaluation", "audit"),
    "escalation": ("escalation", "audit"),
    "notification": ("notification", "audit"),
    # The `sexto` command line's legal tooling: holds, erasures, the reads it records.
    "operator": ("legal", "audit"),
}
# Streams besides CASES a writer owns, by subject.
OWN_STREAMS: Mapping[str, Sequence[str]] = {"intake": ("directory.>",)}
# Requests to the transparency log's tree (`tlog.CASES.<what>`: legal routes and the
# command line ask for proofs) and to its witness (`tlog.witness.<key id>.add-checkpoint`).
TREE_REQUESTS = f"tlog.{STREAM}.>"
WITNESS_REQUESTS = "tlog.witness.>"
ASKS_FOR_PROOFS = ("intake", "operator")
_TERRITORY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class User:
    """One NATS user and what it may publish and subscribe to (`deny` wins over allow);
    `responses`: it may answer the requests it receives (on their reply subjects only)."""

    name: str
    publish: Sequence[str]
    subscribe: Sequence[str]
    deny_publish: Sequence[str] = ()
    responses: bool = False

    @property
    def password_variable(self) -> str:
        """The environment variable holding this user's password."""
        return re.sub(r"[^A-Z0-9]", "_", self.name.upper()) + "_NATS_PASSWORD"

    @property
    def inbox(self) -> str:
        """The only inbox prefix this user may receive replies on."""
        return inbox_prefix(self.name)


def dispatch_inbox(territory: str) -> str:
    """The inbox prefix a territory's integration connects with (`inbox_prefix`)."""
    return inbox_prefix(f"dispatch-{territory}")


def territories(directory: Mapping[str, object]) -> list[str]:
    """The territory ids of a directory document, checked for use in subjects and for
    names that would share a password variable or an inbox (`a-b` and `a_b`)."""
    found = [str(t["territory_id"]) for t in directory["territories"]]  # type: ignore[attr-defined]
    bad = [t for t in found if not _TERRITORY.match(t)]
    if bad:
        raise ValueError(f"territory ids unfit for NATS subjects: {bad}")
    unique = sorted(set(found))
    by_variable: dict[str, list[str]] = {}
    for territory in unique:
        by_variable.setdefault(dispatch_user(territory).password_variable, []).append(territory)
    colliding = [names for names in by_variable.values() if len(names) > 1]
    if colliding:
        raise ValueError(
            f"territory ids {colliding} differ only by '-' and '_': their police users would "
            "share a password variable and an inbox; rename one of each group"
        )
    return unique


def forbidden_to_services(directory: Mapping[str, object]) -> list[str]:
    """What no service nor the tree may ask of JetStream: delete, change or purge a stream,
    delete a message, or create, delete, pull from or acknowledge on a police integration's
    consumer (its rights are keyed on the consumer's name)."""
    denied = [
        f"$JS.API.STREAM.{action}.>" for action in ("DELETE", "UPDATE", "PURGE", "MSG.DELETE")
    ]
    for territory in territories(directory):
        durable = f"{STREAM}.dispatch-{territory}"
        denied += [
            f"$JS.API.CONSUMER.CREATE.{durable}",
            f"$JS.API.CONSUMER.CREATE.{durable}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{durable}",
            f"$JS.API.CONSUMER.DELETE.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{durable}",
            f"$JS.ACK.{durable}.>",
        ]
    return denied


def service_user(name: str, denied: Sequence[str] = ()) -> User:
    """A writer of the log: its own contexts in every case, the JetStream API but `denied`,
    replies on its own inbox."""
    events = [f"{ROOT}.*.*.{context}.>" for context in WRITERS[name]]
    inbox = f"{inbox_prefix(name)}.>"
    return User(
        name,
        publish=[
            *events,
            *OWN_STREAMS.get(name, ()),
            "$JS.API.>",
            "$JS.ACK.>",
            inbox,
            *((TREE_REQUESTS,) if name in ASKS_FOR_PROOFS else ()),
        ],
        subscribe=[inbox],
        deny_publish=denied,
    )


def dispatch_user(territory: str) -> User:
    """A police integration: its own territory's escalations, read-only, pulled."""
    durable = f"dispatch-{territory}"
    return User(
        durable,
        publish=[
            f"$JS.API.CONSUMER.CREATE.{STREAM}.{durable}.{ROOT}.{territory}.*.escalation.>",
            f"$JS.API.CONSUMER.INFO.{STREAM}.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{durable}",
            f"$JS.ACK.{STREAM}.{durable}.>",
        ],
        subscribe=[f"{dispatch_inbox(territory)}.>"],
    )


def transparency_users(denied: Sequence[str] = ()) -> list[User]:
    """The transparency log's tree (reads the log, publishes checkpoints, answers proof
    requests, asks the witness) and its witness (answers cosignature requests only)."""
    tlog_inbox = f"{inbox_prefix('tlog')}.>"
    return [
        User(
            "tlog",
            publish=["$JS.API.>", "$JS.ACK.>", tlog_inbox, "checkpoints.>", WITNESS_REQUESTS],
            subscribe=[TREE_REQUESTS, tlog_inbox],
            deny_publish=denied,
            responses=True,
        ),
        User(
            "witness",
            publish=[f"{inbox_prefix('witness')}.>"],  # its own replies only: no events
            subscribe=[WITNESS_REQUESTS],
            responses=True,
        ),
    ]


def users(directory: Mapping[str, object]) -> list[User]:
    """Every user of the SEXTO account for this directory."""
    denied = forbidden_to_services(directory)
    return [
        *(service_user(name, denied) for name in WRITERS),
        *transparency_users(denied),
        *map(dispatch_user, territories(directory)),
    ]


def _list(items: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def accounts_config(
    directory: Mapping[str, object], password: Callable[[User], str] | None = None
) -> str:
    """The `accounts` block; `password` gives each user's password as config text
    (by default a reference to its environment variable)."""
    secret = password or (lambda user: f"${user.password_variable}")
    lines = [
        "# Generated by `python -m sexto_devstack.accounts deploy/seed/directory.json`;",
        "# edit the generator (libs/devstack/src/sexto_devstack/accounts.py), not this file.",
        "accounts {",
        "  SEXTO: {",
        "    jetstream: enabled",
        "    users: [",
    ]
    for user in users(directory):
        lines += [
            f'      {{ user: "{user.name}", password: {secret(user)},',
            f"        permissions: {{ publish: {{ allow: {_list(user.publish)}"
            + (
                f",\n                                  deny: {_list(user.deny_publish)}"
                if user.deny_publish
                else ""
            )
            + " },",
            f"                       subscribe: {{ allow: {_list(user.subscribe)} }}"
            + (",\n                       allow_responses: true" if user.responses else "")
            + " } }",
        ]
    sys_user = User("sys", (), ())
    lines += [
        "    ]",
        "  }",
        f'  SYS: {{ users: [ {{ user: "sys", password: {secret(sys_user)} }} ] }}',
        "}",
        "system_account: SYS",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Print the accounts configuration of the directory file named on the command line."""
    if len(sys.argv) != 2:
        sys.exit("usage: python -m sexto_devstack.accounts <directory.json>")
    directory = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    sys.stdout.write(accounts_config(directory))


if __name__ == "__main__":
    main()

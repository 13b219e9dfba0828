"""Each NATS user's own inbox prefix: the server lets a user subscribe to its own
replies only, so no one can read, or forge, the replies (JetStream acks) of another."""

from __future__ import annotations

import re

SHARED_INBOX = "_INBOX"  # nats-py's default, for a server without accounts


def inbox_prefix(user: str) -> str:
    """The inbox prefix of a NATS user (`dispatch-spvm` -> `_INBOX_dispatch_spvm`)."""
    return f"{SHARED_INBOX}_" + re.sub(r"[^A-Za-z0-9]", "_", user)

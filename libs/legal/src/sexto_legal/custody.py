"""The chain of custody of the sealed kit, read from the case's events.

Each line names the event it comes from (id and position). The derivation lives in the
bundle's standalone verifier (bundle_verify.py), which derives it again from the events
and requires custody.jsonl to equal it: the log is the authority, this is a view of it.
"""

from __future__ import annotations

from sexto_legal.bundle_verify import custody_log

__all__ = ["custody_log"]

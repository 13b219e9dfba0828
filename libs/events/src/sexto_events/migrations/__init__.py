"""Alembic scripts of the tables the event library owns: `keys/` (schema sexto_keys) and
`runtime/` (the consumer runtime, in each service's schema). Run by `sexto_events.migrate`.

A change to a table is a new revision beside 0001 (its `down_revision` the previous one)
and the same change to `sexto_events.tables`; tests/migrations keeps the two equal.
"""

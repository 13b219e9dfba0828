"""Alembic environment of the Idempotency-Key records: see sexto_events.migrate."""

from sexto_events.migrate import run_env

run_env()

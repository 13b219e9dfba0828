"""Alembic environment of the runtime tables: see sexto_events.migrate."""

from sexto_events.migrate import run_env

run_env()

"""Alembic environment of the keys tables: see sexto_events.migrate."""

from sexto_events.migrate import run_env

run_env()

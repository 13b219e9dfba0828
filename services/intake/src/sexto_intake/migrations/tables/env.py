"""Alembic environment of the intake tables: see sexto_events.migrate."""

from sexto_events.migrate import run_env

run_env()

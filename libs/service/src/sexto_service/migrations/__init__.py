"""Alembic migrations of the HTTP edge's tables (see sexto_events.migrate)."""

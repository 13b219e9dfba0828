"""Alembic scripts (`tables/`) of the intake tables not derived from the log (the index of
students seen before), version table `intake.alembic_version`; run at start-up by
`sexto_service.runtime.migrate_service`.

A change to these tables is a new revision beside the last (its `down_revision` the previous
one) and the same change to `sexto_intake.tables.MIGRATED`; tests/migrations keeps the two
equal.
"""

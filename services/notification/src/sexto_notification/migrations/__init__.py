"""Alembic scripts (`tables/`) of the notification tables not derived from the log
(subscriptions and the delivery outbox), version table `notification.alembic_version`; run
at start-up by `sexto_service.runtime.migrate_service`.

A change to these tables is a new revision beside the last (its `down_revision` the previous
one) and the same change to `sexto_notification.tables`; tests/migrations keeps the two
equal.
"""

"""The intake tests use the shared world (tests/support/world.py, a plugin of the suite)."""

from tests.support.world import World, sexto_report

__all__ = ["World", "sexto_report"]

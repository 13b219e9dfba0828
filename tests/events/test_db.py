"""Pooled connections go back without asyncpg's reset round trip (sexto_events.db): what
makes that safe is checked here, on the real PostgreSQL and in the source."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import asyncpg
import pytest
from asyncpg.pool import PoolConnectionHolder
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_events.db import create_pool

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    path
    for top in ("libs", "services", "apps", "bench", "tests/support")
    for path in (ROOT / top).rglob("*.py")
    if "/migrations/" not in path.as_posix()
]


async def test_a_transaction_left_open_is_rolled_back_on_release(
    postgres: EmbeddedPostgres,
) -> None:
    pool = await create_pool(postgres.dsn, max_size=1)
    try:
        conn = await pool.acquire()
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("SELECT pg_advisory_xact_lock(424242)")
        await pool.release(conn)  # never committed: as if the holder had crashed midway
        async with pool.acquire() as again:
            assert not again.is_in_transaction()
            held = await again.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 424242"
            )
            assert held == 0
    finally:
        await pool.close()


async def test_each_use_costs_no_reset_statement(postgres: EmbeddedPostgres) -> None:
    pool = await create_pool(postgres.dsn, max_size=1)
    watcher = await asyncpg.connect(postgres.dsn)
    try:
        async with pool.acquire() as conn:
            pid = conn.get_server_pid()
            await conn.fetchval("SELECT 41 + 1")
        # The pooled backend's last statement is still ours: nothing ran on release
        # (asyncpg's default reset would show here as `... RESET ALL`).
        last = await watcher.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
        assert last == "SELECT 41 + 1"
    finally:
        await watcher.close()
        await pool.close()


STATEMENT = r"\.(execute|executemany|fetch|fetchval|fetchrow)\(\s*f?[\"']\s*"
"""A statement's text as it starts, where a session-level command would be."""
SESSION_STATE = [
    (re.compile(r"pg_(try_)?advisory_lock(_shared)?\s*\("), "a session-level advisory lock"),
    (re.compile(rf"{STATEMENT}SET\s+(?!LOCAL\b)", re.I), "a SET"),
    (re.compile(rf"{STATEMENT}(LISTEN|PREPARE|DECLARE|CREATE\s+TEMP)", re.I), "session state"),
    (re.compile(r"set_config\([^)]*,\s*false\s*\)", re.I), "a session-level set_config"),
]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_code_leaves_session_state_on_a_pooled_connection(path: Path) -> None:
    text = path.read_text()
    for pattern, what in SESSION_STATE:
        found = pattern.search(text)
        assert found is None, f"{what} in {path.name}: {found.group(0)!r} (no pool reset)"


def test_the_session_state_scan_can_fail() -> None:
    planted = "conn.execute(\"SET search_path = x\")\nc.execute('SELECT pg_advisory_lock(1)')"
    assert all(pattern.search(planted) for pattern, _ in SESSION_STATE[:2])
    assert SESSION_STATE[2][0].search("conn.execute('LISTEN wake')")
    assert not any(p.search('c.execute("UPDATE t "\n"SET a = 1")') for p, _ in SESSION_STATE)


def test_asyncpg_still_rolls_back_before_our_reset() -> None:
    # `_released` relies on asyncpg running Connection._reset (ROLLBACK of an open
    # transaction) before a custom reset; a future asyncpg that stopped would fail here.
    assert "self._con._reset()" in inspect.getsource(PoolConnectionHolder.release)

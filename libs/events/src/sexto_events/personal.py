"""Personal data in events: sealed with AES-256-GCM under a per-data-subject key.

Keys live in PostgreSQL (schema `sexto_keys`, migrated by `sexto_events.migrate`), wrapped
(RFC 3394) by a master key from settings. Deleting a subject's key is erasure
(crypto-shredding): the log keeps its ciphertext and still verifies, and the field reads as
erased. Unwrapped keys are cached briefly in each process (`sexto_events.key_cache`), valid
only at the shred epoch they were read at; that epoch is leased (`sexto_events.epoch_lease`),
and a shred returns only once every lease taken before its commit has run out, so no process
can still use the key.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import math
import os
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Union, get_args, get_origin

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from pydantic import BaseModel

from sexto_events.catalogue.base import ERASED, PersonalSpec, personal_spec
from sexto_events.db import DbConnection
from sexto_events.disclosure import SEALED_MARK
from sexto_events.epoch_lease import DEFAULT_LEASE_S, EpochLease, settle_seconds
from sexto_events.errors import EventLogError, EventSchemaError, SubjectErased
from sexto_events.key_cache import KeyCache
from sexto_events.tables import KEY_SCHEMA

ALGORITHM = "A256GCM"

_EPOCH = f"SELECT epoch FROM {KEY_SCHEMA}.shred_epoch"
# One statement, one snapshot: the epoch is never newer than the keys read beside it.
_READ = (
    f"SELECT e.epoch, k.subject, k.wrapped_key, k.kek_id FROM {KEY_SCHEMA}.shred_epoch e "
    f"LEFT JOIN {KEY_SCHEMA}.subject_keys k ON k.subject = ANY($1::text[])"
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KeyVault:
    """Per-data-subject keys in PostgreSQL, wrapped by the master key, cached unwrapped.

    `cache_keys` bounds the cache (0 turns it off), `cache_seconds` is how long a key stays,
    `lease_seconds` how long the shred epoch is trusted without a read (0: read at every use).
    Before it trusts any epoch, a vault records its lease in the key database
    (`shred_epoch.longest_lease_s`, the longest any vault has taken), and every shred waits
    the longer of its own lease and that one after its commit: a process started with a
    longer lease than the shredder's cannot outlive the wait.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        master_key: bytes,
        *,
        cache_keys: int = 10_000,
        cache_seconds: float = 60.0,
        lease_seconds: float = DEFAULT_LEASE_S,
    ) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes (256 bits)")
        self._pool = pool
        self._kek = master_key
        self._kek_id = hashlib.sha256(master_key).hexdigest()[:16]
        self.cache = KeyCache(cache_keys, cache_seconds)
        self.lease = EpochLease(self._read_epoch, lease_seconds)
        self._settled_at = -math.inf  # when every key shredded here is unusable everywhere
        self._lease_recorded = False

    async def _record_lease(self, conn: DbConnection) -> None:
        """Once per vault, before any epoch it reads is trusted: put its lease in the key
        database, where every shred finds it (committed before the read that follows)."""
        if self._lease_recorded:
            return
        await conn.execute(
            f"UPDATE {KEY_SCHEMA}.shred_epoch SET longest_lease_s = GREATEST(longest_lease_s, $1)",
            self.lease.seconds,
        )
        self._lease_recorded = True

    async def keys_for_writing(
        self, subjects: Iterable[str]
    ) -> tuple[dict[str, bytes], int | None]:
        """Each subject's key, created on first use, and the shred epoch they were checked at
        (None without subjects); refuses subjects already shredded."""
        wanted = sorted(set(subjects))
        if not wanted:
            return {}, None
        keys: dict[str, bytes] = {}
        epochs: list[int] = []
        if any(self.cache.holds(s) for s in wanted):
            # A key valid at the current epoch existed and no shred has returned since: its
            # subject is not shredded (a shred still waiting for the leases may be racing
            # this write; its key is gone from the table, so what it seals reads erased).
            epochs.append(await self.lease.current())
            keys = self.cache.get(wanted, epochs[0])
        missing = [s for s in wanted if s not in keys]
        if missing:
            async with self._pool.acquire() as conn:
                created, epoch = await self._create(conn, missing)
            keys |= created
            epochs.append(epoch)
        # The oldest check: a shred after it may have erased a subject of these keys.
        return keys, min(epochs)

    async def _create(self, conn: DbConnection, wanted: list[str]) -> tuple[dict[str, bytes], int]:
        wrapped = [aes_key_wrap(self._kek, AESGCM.generate_key(256)) for _ in wanted]
        await self._record_lease(conn)
        issued = self.lease.clock()
        try:
            # One round trip, one commit (sexto_keys.create_keys, migration 0002): the
            # shred locks, the tombstone check, the insert and the epoch on the server.
            rows = await conn.fetch(
                f"SELECT * FROM {KEY_SCHEMA}.create_keys($1, $2, $3)", wanted, wrapped, self._kek_id
            )
        except asyncpg.RaiseError as exc:
            if exc.args and exc.args[0] == "subject erased":
                raise SubjectErased(str(exc.detail)) from None
            raise
        keys = self._unwrap(rows)
        epoch: int = rows[0]["epoch"]
        self.lease.observe(epoch, issued)
        self.cache.put(keys, epoch)
        return keys, epoch

    async def shred_epoch(self) -> int:
        """How many shreds have committed, as leased: cached keys and opened data of an older
        epoch are stale."""
        return await self.lease.current()

    async def _read_epoch(self) -> int:
        async with self._pool.acquire() as conn:
            await self._record_lease(conn)
            epoch: int = await conn.fetchval(_EPOCH)
        return epoch

    async def keys_for_reading(self, subjects: Iterable[str]) -> dict[str, bytes]:
        """The keys that still exist; a shredded subject is simply absent."""
        wanted = sorted(set(subjects))
        if not wanted:
            return {}
        cached = [s for s in wanted if self.cache.holds(s)]
        missing = [s for s in wanted if s not in cached]
        if missing:
            fetched, epoch = await self._read(missing)
        else:
            # Every key cached: the leased epoch says whether they still stand, no read.
            fetched, epoch = {}, await self.lease.current()
        hits = self.cache.get(cached, epoch)
        if len(hits) < len(cached):
            # A shred committed since some were cached: read them all in one snapshot.
            fetched, _ = await self._read(wanted)
            return fetched
        return hits | fetched

    async def _read(self, subjects: list[str]) -> tuple[dict[str, bytes], int]:
        async with self._pool.acquire() as conn:
            await self._record_lease(conn)
            issued = self.lease.clock()
            rows = await conn.fetch(_READ, subjects)
        epoch: int = rows[0]["epoch"]
        self.lease.observe(epoch, issued)
        keys = self._unwrap([row for row in rows if row["subject"] is not None])
        self.cache.put(keys, epoch)
        return keys, epoch

    def _unwrap(self, rows: Sequence[asyncpg.Record]) -> dict[str, bytes]:
        keys = {}
        for row in rows:
            if row["kek_id"] != self._kek_id:
                raise EventLogError(
                    f"personal-data keys were wrapped by master key {row['kek_id']}, but the "
                    f"configured SEXTO_MASTER_KEY is {self._kek_id}: configure the master key "
                    "these keys were created with"
                )
            keys[row["subject"]] = aes_key_unwrap(self._kek, row["wrapped_key"])
        return keys

    async def shred(self, subject: str, *, settle: bool = True) -> bool:
        """Erase a data subject: delete the key, keep a tombstone. True if a key was deleted.

        Returns once the key is unusable in every process: the lease period after the commit.
        With `settle=False` it returns at the commit, and the caller awaits `settled()` before
        it tells anyone the key is gone (one wait for many shreds).
        """
        async with self._pool.acquire() as conn:
            await self._record_lease(conn)
            issued = self.lease.clock()
            async with conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('sexto-key:' || $1::text))", subject
                )
                deleted = await conn.execute(
                    f"DELETE FROM {KEY_SCHEMA}.subject_keys WHERE subject = $1", subject
                )
                await conn.execute(
                    f"INSERT INTO {KEY_SCHEMA}.shredded_subjects (subject) VALUES ($1) "
                    "ON CONFLICT (subject) DO NOTHING",
                    subject,
                )
                # Committed with the delete: every process's cached keys are stale from now.
                # The row lock makes this read the longest lease recorded before any lease that
                # still shows the old epoch was taken.
                bumped = await conn.fetchrow(
                    f"UPDATE {KEY_SCHEMA}.shred_epoch SET epoch = epoch + 1 "
                    "RETURNING epoch, longest_lease_s"
                )
        assert bumped is not None  # the one row of the migration
        epoch: int = bumped["epoch"]
        longest = max(self.lease.seconds, float(bumped["longest_lease_s"]))
        # This vault stops using the key at once; every other one within its lease, which
        # was read before this commit and so ends before the wait does. The connection and
        # the lock are released first: the wait holds nothing.
        self.lease.observe(epoch, issued)
        self.cache.drop(subject)
        self._settled_at = max(self._settled_at, self.lease.clock() + settle_seconds(longest))
        if settle:
            await self.settled()
        return bool(deleted != "DELETE 0")

    async def shred_all(self, subjects: Sequence[str]) -> list[bool]:
        """`shred` each subject in turn (the first failure stops the rest), then wait for the
        leases once for all: True where a key was deleted."""
        try:
            return [await self.shred(subject, settle=False) for subject in subjects]
        finally:
            await self.settled()  # the keys shredded before a failure too

    async def settled(self) -> None:
        """Wait until every key this vault has shredded is unusable in every process."""
        delay = self._settled_at - self.lease.clock()
        if delay > 0:
            await asyncio.sleep(delay)


# --- walking the personal fields of a model ------------------------------------------

Visitor = Callable[[Any, str, str], Any]
"""(stored value, data subject id, field path) -> new value."""


def _nested_model(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """(model class, is_list) when a field holds a model or a list of models."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _nested_model(arg)
            if found:
                return found
        return None
    if origin is list:
        inner = _nested_model(get_args(annotation)[0])
        return (inner[0], True) if inner else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None


def subject_id(kind: str, case_id: str, ref: str | None = None) -> str:
    """The key id of a data subject: the case itself, or a person within the case.

    References come from partners and are only unique within a case, so the case id is
    part of every person's key id: two schools' "s1" never share a key.
    """
    return f"case:{case_id}" if ref is None else f"{kind}:{case_id}:{ref}"


def _subject_id(spec: PersonalSpec, data: dict[str, Any], case_id: str) -> str:
    if spec.ref_field is None:
        return subject_id("case", case_id)
    ref = data.get(spec.ref_field)
    if not isinstance(ref, str) or not ref:
        raise EventSchemaError("personal data", [f"{spec.ref_field}: missing data subject ref"])
    return subject_id(spec.kind, case_id, ref)


@functools.cache
def _personal_plan(
    cls: type[BaseModel],
) -> tuple[tuple[str, PersonalSpec | None, tuple[type[BaseModel], bool] | None], ...]:
    """(field name, personal spec, nested model) of the fields of `cls` that hold personal
    data: worked out once per class, as every sealed write and read walks its events."""
    plan = []
    for name, field in cls.model_fields.items():
        spec = personal_spec(field.json_schema_extra)
        nested = None if spec is not None else _nested_model(field.annotation)
        if spec is not None or (nested is not None and has_personal_fields(nested[0])):
            plan.append((name, spec, nested))
    return tuple(plan)


def walk_personal(
    cls: type[BaseModel], data: dict[str, Any], case_id: str, visit: Visitor, path: str = ""
) -> dict[str, Any]:
    """A copy of `data` (JSON form of `cls`) with every non-null personal field visited."""
    out = dict(data)
    for name, spec, nested in _personal_plan(cls):
        if name not in out or out[name] is None:
            continue
        where = f"{path}{name}"
        if spec is not None:
            out[name] = visit(out[name], _subject_id(spec, out, case_id), where)
            continue
        assert nested is not None
        model, is_list = nested
        if is_list and isinstance(out[name], list):
            out[name] = [
                walk_personal(model, item, case_id, visit, f"{where}[{i}].")
                if isinstance(item, dict)
                else item
                for i, item in enumerate(out[name])
            ]
        elif isinstance(out[name], dict):
            out[name] = walk_personal(model, out[name], case_id, visit, f"{where}.")
    return out


@functools.cache
def has_personal_fields(cls: type[BaseModel]) -> bool:
    """True when `cls` or a model nested in it declares a personal field."""
    for field in cls.model_fields.values():
        if personal_spec(field.json_schema_extra) is not None:
            return True
        nested = _nested_model(field.annotation)
        if nested is not None and has_personal_fields(nested[0]):
            return True
    return False


def subjects_of(cls: type[BaseModel], data: dict[str, Any], case_id: str) -> set[str]:
    """Data subjects whose personal data `data` holds."""
    if not has_personal_fields(cls):
        return set()
    found: set[str] = set()

    def collect(value: Any, subject: str, _path: str) -> Any:
        found.add(subject)
        return value

    walk_personal(cls, data, case_id, collect)
    return found


def seal_value(key: bytes, subject: str, event_id: str, plaintext: str) -> dict[str, str]:
    """Encrypt one value, binding the event id as associated data."""
    nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, plaintext.encode(), event_id.encode())
    return {SEALED_MARK: ALGORITHM, "kid": subject, "iv": _b64(nonce), "ct": _b64(ct)}


def open_value(key: bytes | None, event_id: str, sealed: Any, where: str) -> Any:
    """Decrypt one value; a missing key gives the erased marker."""
    if not (isinstance(sealed, dict) and sealed.get(SEALED_MARK) == ALGORITHM):
        raise EventSchemaError("personal data", [f"{where}: stored without encryption"])
    if key is None:
        return ERASED.model_dump()
    try:
        plain = AESGCM(key).decrypt(_unb64(sealed["iv"]), _unb64(sealed["ct"]), event_id.encode())
    except InvalidTag:
        raise EventSchemaError(
            "personal data", [f"{where}: ciphertext does not authenticate for this event"]
        ) from None
    return plain.decode()


class PersonalDataCodec:
    """Seals personal fields before an event is written and opens them when it is read."""

    def __init__(self, vault: KeyVault) -> None:
        self.vault = vault

    async def seal_many(
        self, items: Sequence[tuple[type[BaseModel], dict[str, Any], str, str]]
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Seal (cls, data, case id, event id) items with one key lookup for all; also the
        shred epoch the keys were checked at (None when nothing was sealed)."""
        held = [subjects_of(cls, data, case_id) for cls, data, case_id, _ in items]
        keys, epoch = await self.vault.keys_for_writing(set().union(*held))
        sealed = []
        for (cls, data, case_id, event_id), own in zip(items, held, strict=True):
            if not own:
                sealed.append(data)
                continue

            def seal(
                value: Any, subject: str, where: str, cls: type = cls, event_id: str = event_id
            ) -> Any:
                if not isinstance(value, str):
                    raise EventSchemaError(cls.__name__, [f"{where}: personal data must be text"])
                return seal_value(keys[subject], subject, event_id, value)

            sealed.append(walk_personal(cls, data, case_id, seal))
        return sealed, epoch

    async def open_many(
        self, items: Sequence[tuple[type[BaseModel], dict[str, Any], str, str]]
    ) -> list[dict[str, Any]]:
        """Open (cls, sealed data, case id, event id) items with one key lookup for all."""
        subjects: set[str] = set()
        for cls, data, case_id, _ in items:
            subjects |= subjects_of(cls, data, case_id)
        keys = await self.vault.keys_for_reading(subjects) if subjects else {}
        opened = []
        for cls, data, case_id, event_id in items:

            def open_(value: Any, subject: str, where: str, event_id: str = event_id) -> Any:
                return open_value(keys.get(subject), event_id, value, where)

            opened.append(walk_personal(cls, data, case_id, open_))
        return opened

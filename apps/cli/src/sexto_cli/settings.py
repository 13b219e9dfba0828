"""The command line's settings: the services' own (SEXTO_ prefix), with the stack of
`make run` filled in where SEXTO_NATS_URL, SEXTO_DATABASE_URL or SEXTO_AUTH_LOCAL_KEY_FILE
are not set (outside production, where only the variables count)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_settings import SettingsError
from sexto_events.settings import EventLogSettings
from sexto_service.auth.tokens import AuthSettings

from sexto_cli.failures import CliError
from sexto_cli.stack import Address, find_stack


@contextmanager
def settings_checked() -> Iterator[None]:
    """Settings that do not validate, as a CliError naming the variables to fix."""
    try:
        yield
    except ValidationError as exc:
        problems = "; ".join(
            f"{'_'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors(include_input=False)
        )
        raise CliError(f"error in the settings ({exc.title}): {problems}") from None
    except SettingsError as exc:  # a value that is not even JSON where JSON is expected
        raise CliError(f"error in the settings: {exc} (it must be JSON)") from None


@dataclass(frozen=True)
class CliSettings:
    """The settings a command runs with, and where its servers' addresses came from."""

    log: EventLogSettings
    auth: AuthSettings
    nats: Address
    database: Address


def _variable(url: str, name: str, production: bool) -> Address:
    advice = f"correct {name}" if production else (
        f"correct {name}, or unset it to use the stack of `make run`"
    )  # fmt: skip
    return Address(url, f"from {name}", advice)


def load_settings(given: EventLogSettings | None = None) -> CliSettings:
    """The settings from the environment (or `given`, whose addresses are used as they are)."""
    with settings_checked():
        log = given or EventLogSettings()
        auth = AuthSettings()
    production = log.environment == "production"
    fixed = log.model_fields_set if given is None else {"nats_url", "database_url"}
    nats_set = "nats_url" in fixed and bool(log.nats_url)
    database_set = "database_url" in fixed and bool(log.database_url)
    if production:
        nats = _variable(log.nats_url, "SEXTO_NATS_URL", production)
        database = _variable(log.database_url, "SEXTO_DATABASE_URL", production)
        if not nats_set:
            nats = Address(log.nats_url, "the built-in default", "set SEXTO_NATS_URL")
        if not database_set:
            database = Address(log.database_url, "the built-in default", "set SEXTO_DATABASE_URL")
        return CliSettings(log, auth, nats, database)
    if nats_set and database_set and auth.local_key_file is not None:
        return CliSettings(
            log,
            auth,
            _variable(log.nats_url, "SEXTO_NATS_URL", production),
            _variable(log.database_url, "SEXTO_DATABASE_URL", production),
        )
    found = find_stack()
    nats = _variable(log.nats_url, "SEXTO_NATS_URL", production) if nats_set else found.nats
    database = (
        _variable(log.database_url, "SEXTO_DATABASE_URL", production)
        if database_set
        else found.database
    )
    log = log.model_copy(update={"nats_url": nats.url, "database_url": database.url})
    if auth.local_key_file is None and found.issuer_key_file is not None:
        auth = auth.model_copy(update={"local_key_file": found.issuer_key_file})
    return CliSettings(log, auth, nats, database)

"""Identity and scope, shared unchanged by every service."""

from sexto_events.auth.principal import Principal, Role
from sexto_events.auth.tokens import AuthSettings, InvalidToken, TokenVerifier

__all__ = ["AuthSettings", "InvalidToken", "Principal", "Role", "TokenVerifier"]

"""Identity and scope, shared unchanged by every service."""

from sexto_events.principal import Principal, Role

from sexto_service.auth.tokens import AuthSettings, InvalidToken, TokenVerifier

__all__ = ["AuthSettings", "InvalidToken", "Principal", "Role", "TokenVerifier"]

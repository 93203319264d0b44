"""Page tokens the API hands out: Temporal's opaque token plus a MAC over it and the query.

Temporal answers an internal error to a page token it did not issue, so a token is checked here
before Temporal sees it: one that this API did not issue, or issued for another listing (other
tenants or state), is a 422 naming ``page_token``. Tokens stay hexadecimal.
"""

from __future__ import annotations

import hashlib
import hmac

from pipeline_engine.service import invalid_page_token
from pipeline_engine.settings import Settings

__all__ = ["open_page_token", "page_token_key", "seal_page_token"]

_MAC_HEX = 32


def page_token_key(settings: Settings) -> str:
    """The MAC key of page tokens: ``page_token_secret``, else one derived from the JWT secret
    (HMAC of a fixed label), so a page token's MAC never uses the key that signs tokens."""
    if settings.page_token_secret is not None:
        return settings.page_token_secret.get_secret_value()
    root = settings.jwt_secret.get_secret_value().encode()
    return hmac.new(root, b"pipeline-engine page tokens", hashlib.sha256).hexdigest()


def _mac(raw_hex: str, query: str, secret: str) -> str:
    message = f"{query}\n{raw_hex}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:_MAC_HEX]


def seal_page_token(raw_hex: str | None, *, query: str, secret: str) -> str | None:
    """The token to give the caller for Temporal's ``raw_hex`` token of ``query``."""
    if raw_hex is None:
        return None
    return raw_hex + _mac(raw_hex, query, secret)


def open_page_token(token: str | None, *, query: str, secret: str) -> str | None:
    """Temporal's token inside a caller's ``token`` for ``query`` (``None`` for no token).

    Raises:
        InvalidInput: The token was not issued by this API for this query.
    """
    if not token:
        return None
    raw, mac = token[:-_MAC_HEX].lower(), token[-_MAC_HEX:].lower()
    valid = (
        len(token) > _MAC_HEX
        and len(raw) % 2 == 0
        and hmac.compare_digest(mac, _mac(raw, query, secret))
    )
    if not valid:
        raise invalid_page_token("not a next_page_token of this listing; start over")
    return raw

"""What a production secret must be: not the dev default, long, and not guessable by its shape.

Length alone let 40 spaces pass. The estimate here is the secret's length times the Shannon
entropy of its characters (bits per character, from their frequencies in the secret): a random
32-character token of letters and digits scores about 150 bits, 40 spaces 0, ``"password" * 5``
about 110. Below :data:`MIN_SECRET_BITS` the server refuses to start outside dev.
"""

from __future__ import annotations

import math
from collections import Counter

from pydantic import SecretStr

from pipeline_engine.settings import DEV_ID_SECRET, DEV_JWT_SECRET, Settings

__all__ = [
    "MIN_SECRET_BITS",
    "MIN_SECRET_LENGTH",
    "check_secret",
    "estimated_bits",
]

MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 128.0


def estimated_bits(secret: str) -> float:
    """Length times the Shannon entropy per character of ``secret``."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    n = len(secret)
    per_char = -sum(c / n * math.log2(c / n) for c in counts.values())
    return per_char * n


def _weak(secret: str) -> str | None:
    if secret in (DEV_JWT_SECRET, DEV_ID_SECRET):
        return "is the dev default"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if estimated_bits(secret) < MIN_SECRET_BITS:
        return (
            f"is too predictable (about {estimated_bits(secret):.0f} bits, at least "
            f"{MIN_SECRET_BITS:.0f} needed: use e.g. `openssl rand -base64 48`)"
        )
    return None


def check_secret(settings: Settings) -> None:
    """Refuse a default, short or low-entropy secret outside dev.

    Checked: ``jwt_secret``, every key of ``jwt_keys``, ``page_token_secret`` when set and
    ``id_secret``.

    Raises:
        RuntimeError: ``env`` is not ``dev`` and one of them is weak (the message names it, never
            its value).
    """
    if settings.env == "dev":
        return
    named: list[tuple[str, SecretStr | None]] = [
        ("PIPELINE_ENGINE_JWT_SECRET", settings.jwt_secret),
        ("PIPELINE_ENGINE_PAGE_TOKEN_SECRET", settings.page_token_secret),
        ("PIPELINE_ENGINE_ID_SECRET", settings.id_secret),
    ]
    named += [(f"PIPELINE_ENGINE_JWT_KEYS[{kid!r}]", key) for kid, key in settings.jwt_keys.items()]
    _refuse_weak(named)
    if settings.jwt_signing_kid is not None and settings.jwt_signing_kid not in settings.jwt_keys:
        raise RuntimeError(
            "PIPELINE_ENGINE_JWT_SIGNING_KID names no key of PIPELINE_ENGINE_JWT_KEYS"
        )


def _refuse_weak(named: list[tuple[str, SecretStr | None]]) -> None:
    for name, value in named:
        if value is None:
            continue
        why = _weak(value.get_secret_value())
        if why is not None:
            raise RuntimeError(
                f"{name} {why}; outside dev it must be a secret of at least "
                f"{MIN_SECRET_LENGTH} random characters"
            )

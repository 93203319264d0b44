"""How every process reaches a secured Temporal: TLS (server CA, client certificate, server name)
and an API key, from the settings. Used by each Temporal connect (worker, API, dev stack)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from temporalio.service import TLSConfig

from pipeline_engine.settings import Settings

__all__ = ["TemporalSecurity"]


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(
            f"PIPELINE_ENGINE_{setting.upper()}: cannot read {path}: {exc.strerror or exc}"
        ) from None


@dataclass(frozen=True)
class TemporalSecurity:
    """The ``tls`` and ``api_key`` arguments of ``Client.connect``.

    Attributes:
        tls: ``None`` lets the SDK decide (TLS when there is an API key), ``True`` uses the
            system's roots, a :class:`TLSConfig` carries a CA, a client certificate or a name.
        api_key: Sent as ``Authorization: Bearer <key>`` (Temporal Cloud API keys).
    """

    tls: TLSConfig | bool | None = None
    api_key: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TemporalSecurity:
        """Read the certificate files named in the settings (a clear error if one is missing)."""
        files = {
            "temporal_tls_ca_file": settings.temporal_tls_ca_file,
            "temporal_tls_cert_file": settings.temporal_tls_cert_file,
            "temporal_tls_key_file": settings.temporal_tls_key_file,
        }
        pem = {name: _read(path, name) for name, path in files.items() if path is not None}
        secret = settings.temporal_api_key
        api_key = secret.get_secret_value() if secret is not None else None
        tls: TLSConfig | bool | None = True if settings.temporal_tls else None
        if pem or settings.temporal_tls_server_name:
            tls = TLSConfig(
                server_root_ca_cert=pem.get("temporal_tls_ca_file"),
                client_cert=pem.get("temporal_tls_cert_file"),
                client_private_key=pem.get("temporal_tls_key_file"),
                domain=settings.temporal_tls_server_name,
            )
        return cls(tls=tls, api_key=api_key)

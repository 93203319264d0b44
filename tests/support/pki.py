"""A throwaway certificate authority with a server and a client certificate, for TLS tests."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    """PEM files written by :func:`make_pki`."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    server_name: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey],
    *,
    ca: bool = False,
    san: x509.SubjectAlternativeName | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer[0])
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer[1], hashes.SHA256())


def make_pki(folder: Path, *, server_name: str = "temporal.test") -> Pki:
    """Write a CA, a server certificate for ``server_name`` and 127.0.0.1, and a client one."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue("test CA", ca_key, (_name("test CA"), ca_key), ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [x509.DNSName(server_name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    server_cert = _issue(
        server_name, server_key, (ca_cert.subject, ca_key), san=san,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )  # fmt: skip
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _issue(
        "pipeline-engine worker", client_key, (ca_cert.subject, ca_key),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )  # fmt: skip

    def pem(cert: x509.Certificate, name: str) -> Path:
        path = folder / name
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    return Pki(
        ca=pem(ca_cert, "ca.pem"),
        server_cert=pem(server_cert, "server.pem"),
        server_key=_write_key(server_key, folder / "server.key"),
        client_cert=pem(client_cert, "client.pem"),
        client_key=_write_key(client_key, folder / "client.key"),
        server_name=server_name,
    )

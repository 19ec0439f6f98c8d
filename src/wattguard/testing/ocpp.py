"""TLS for OCPP security profile 2 in tests and the attack harness: a CA, a server
certificate it signs for ``127.0.0.1``, and the client context that trusts only that CA.

OCPP 1.6 (Security Whitepaper, profile 2) runs TLS 1.2 or later with the central system's
certificate checked by the charge point; Python's ``ssl`` speaks neither SM2 nor the
certificates of our WAN PKI, so these are ECDSA P-256 certificates (docs/analytics.md).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["OcppTls", "ocpp_tls"]


@dataclass(frozen=True, slots=True)
class OcppTls:
    """A server's certificate chain and key (PEM) and the CA certificate that signed it."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def server_context(self) -> ssl.SSLContext:
        """The central system's TLS context (TLS 1.2 or later)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory() as folder:
            cert, key = Path(folder, "cert.pem"), Path(folder, "key.pem")
            cert.write_bytes(self.cert_pem)
            key.write_bytes(self.key_pem)
            context.load_cert_chain(cert, key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A charge point's TLS context that trusts only this CA."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_verify_locations(cadata=self.ca_pem.decode())
        return context


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def ocpp_tls(name: str, now: float) -> OcppTls:
    """A fresh CA called ``name`` and a server certificate it signs for 127.0.0.1, valid ten
    years either side of ``now`` (POSIX seconds; OpenSSL checks them against the wall clock)."""
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    day = datetime.timedelta(days=3650)

    def build(subject: str, public: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(_name(name))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(moment - day)
            .not_valid_after(moment + day)
        )

    ca = (
        build(name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    loopback = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        build(f"{name} central system", key.public_key())
        .add_extension(loopback, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return OcppTls(
        ca.public_bytes(pem),
        cert.public_bytes(pem),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )

"""Mutual TLS 1.3 between nodes, where a node's identity is its Ed25519 node key.

Each node presents a certificate whose key IS its node key (`SigningKey.seed`), signed by that
same key. A peer is accepted only if its certificate's raw 32-byte Ed25519 key is in the set
of allowed node keys (the genesis validators, later changed by governance); the caller
supplies that set on every connection, so a change applies to the next handshake.

Why the handshake itself already checks keys. Python's `ssl` has no verification callback,
and a TLS server with `CERT_NONE` never asks the client for a certificate, so "accept any
certificate during the handshake, check it afterwards" cannot authenticate the client at all.
Instead, each SSL context trusts one *key anchor* per allowed node key: a CA certificate
whose public key is that node key (the anchor's own signature is not checked by OpenSSL, so
we sign it with our own key). A node certificate names its key anchor as its issuer, so
OpenSSL verifies the chain "node certificate signed by an allowed key" during the handshake,
on both sides, with hostname checks off (peers are named by key, not by DNS). A certificate
made for a key that is not allowed fails the handshake.

After the handshake, `peer_node_key` repeats the authoritative check on the peer's DER
certificate with `cryptography`: Ed25519 key, signed by its own key, key in the allowed set
(and, when we dialled, the key we meant to reach). The key anchors only make the handshake
work; this check alone decides who is accepted.

Certificates are deterministic functions of the node key (fixed serial and validity), so
nothing here reads the clock. Validity runs to 9999-12-31 (RFC 5280 §4.1.2.5: no expiry):
a node key is revoked by governance, not by a date.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from ledger.crypto import PUBLIC_KEY_SIZE_BYTES, SigningKey

NODE_ORGANISATION = "tradeledger node"
ANCHOR_ORGANISATION = "tradeledger node key anchor"
_NOT_BEFORE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_NOT_AFTER = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)
_CONTEXT_CACHE_MAX = 4  # contexts kept per side; a new allowed set builds a new context


class PeerRefused(Exception):
    """A peer's certificate does not identify a node key we accept. The message says why."""


def make_node_certificate(key: SigningKey) -> x509.Certificate:
    """The certificate of `key`: its public key is the node key, and the node key signs it."""
    private_key = Ed25519PrivateKey.from_private_bytes(key.seed)
    public_key = private_key.public_key()
    key_identifier = x509.SubjectKeyIdentifier.from_public_key(public_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(NODE_ORGANISATION, key.public_key))
        .issuer_name(_name(ANCHOR_ORGANISATION, key.public_key))  # not self-issued: see above
        .public_key(public_key)
        .serial_number(_serial_number(b"node", key.public_key))
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(key_identifier, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(key_identifier.digest, None, None), critical=False
        )
    )
    return builder.sign(private_key, None)


def make_key_anchor(node_key: bytes, signer: SigningKey) -> x509.Certificate:
    """The trust anchor that lets OpenSSL accept certificates signed by `node_key`."""
    public_key = _ed25519_public_key(node_key)
    name = _name(ANCHOR_ORGANISATION, node_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(_serial_number(b"anchor", node_key))
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(digital_signature=False, key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    return builder.sign(Ed25519PrivateKey.from_private_bytes(signer.seed), None)


def peer_node_key(
    certificate_der: bytes | None, allowed: frozenset[bytes], expected: bytes | None = None
) -> bytes:
    """The node key a peer's certificate proves, or PeerRefused.

    `expected`: when we dialled a peer, the key we meant to reach; any other key is refused.
    """
    if certificate_der is None:
        raise PeerRefused("the peer presented no certificate")
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
    except ValueError as exc:
        raise PeerRefused(f"the peer's certificate does not parse: {exc}") from None
    public_key = certificate.public_key()
    if not isinstance(public_key, Ed25519PublicKey):
        raise PeerRefused(f"the peer's key is {type(public_key).__name__}, not Ed25519")
    if certificate.signature_algorithm_oid != SignatureAlgorithmOID.ED25519:
        raise PeerRefused("the peer's certificate is not signed with Ed25519")
    try:
        public_key.verify(certificate.signature, certificate.tbs_certificate_bytes)
    except InvalidSignature:
        raise PeerRefused("the peer's certificate is not signed by its own key") from None
    node_key = public_key.public_bytes_raw()
    if expected is not None and node_key != expected:
        raise PeerRefused(f"expected node key {expected.hex()[:16]}, got {node_key.hex()[:16]}")
    if node_key not in allowed:
        raise PeerRefused(f"node key {node_key.hex()[:16]} is not an allowed node key")
    return node_key


class TlsIdentity:
    """A node's certificate and the SSL contexts it uses to accept and to dial peers."""

    __slots__ = ("_cache", "_key", "certificate", "node_key")

    def __init__(self, key: SigningKey) -> None:
        self._key = key
        self.node_key: bytes = key.public_key
        self.certificate: x509.Certificate = make_node_certificate(key)
        self._cache: dict[tuple[bool, frozenset[bytes]], ssl.SSLContext] = {}

    def server_context(self, allowed: frozenset[bytes]) -> ssl.SSLContext:
        """For accepting: TLS 1.3 only, a client certificate signed by an allowed key required."""
        return self._context(server_side=True, allowed=allowed)

    def client_context(self, allowed: frozenset[bytes]) -> ssl.SSLContext:
        """For dialling: TLS 1.3 only, a server certificate signed by an allowed key required."""
        return self._context(server_side=False, allowed=allowed)

    def _context(self, *, server_side: bool, allowed: frozenset[bytes]) -> ssl.SSLContext:
        cache_key = (server_side, allowed)
        context = self._cache.get(cache_key)
        if context is None:
            context = self._build_context(server_side=server_side, allowed=allowed)
            if len(self._cache) >= _CONTEXT_CACHE_MAX:
                self._cache.pop(next(iter(self._cache)))
            self._cache[cache_key] = context
        return context

    def _build_context(self, *, server_side: bool, allowed: frozenset[bytes]) -> ssl.SSLContext:
        protocol = ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT
        context = ssl.SSLContext(protocol)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.maximum_version = ssl.TLSVersion.TLSv1_3
        context.check_hostname = False  # peers are named by their key, not by DNS
        context.verify_mode = ssl.CERT_REQUIRED  # on the server: a client certificate too
        if server_side:
            context.num_tickets = 0  # no resumption: every connection shows its certificate
        anchors = b"".join(
            make_key_anchor(node_key, self._key).public_bytes(serialization.Encoding.DER)
            for node_key in sorted(allowed)
            if len(node_key) == PUBLIC_KEY_SIZE_BYTES
        )
        if anchors:  # with none, every peer fails verification, as it should
            context.load_verify_locations(cadata=anchors)
        self._load_own_certificate(context)
        return context

    def _load_own_certificate(self, context: ssl.SSLContext) -> None:
        # `ssl` loads a certificate and key only from files. They live for the duration of the
        # call in a private (0700) directory, and the key is encrypted under a random password
        # that never leaves this process's memory.
        password = os.urandom(32)
        private_key = Ed25519PrivateKey.from_private_bytes(self._key.seed)
        with tempfile.TemporaryDirectory(prefix="tradeledger-tls-") as directory:
            certificate_path = Path(directory) / "node.crt"
            key_path = Path(directory) / "node.key"
            certificate_path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
            key_path.write_bytes(
                private_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(password),
                )
            )
            context.load_cert_chain(certificate_path, key_path, password=password)

    def __repr__(self) -> str:
        return f"TlsIdentity(node_key={self.node_key.hex()[:16]}…)"


def _name(organisation: str, node_key: bytes) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, node_key.hex()),
        ]
    )


def _serial_number(kind: bytes, node_key: bytes) -> int:
    # Positive, at most 20 octets (RFC 5280 §4.1.2.2), and distinct per key and kind.
    return int.from_bytes(hashlib.sha256(kind + node_key).digest()[:19], "big") | 1


def _ed25519_public_key(node_key: bytes) -> Ed25519PublicKey:
    if len(node_key) != PUBLIC_KEY_SIZE_BYTES:
        raise ValueError(f"a node key is {PUBLIC_KEY_SIZE_BYTES} bytes, got {len(node_key)}")
    return Ed25519PublicKey.from_public_bytes(node_key)


def _key_usage(*, digital_signature: bool, key_cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )

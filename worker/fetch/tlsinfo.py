"""Facts about the connection a response came over: TLS version, cipher, peer certificates.

Read from httpx's `response.extensions["network_stream"]` while the stream is still
open. Through an HTTP proxy's CONNECT tunnel the TLS session is end-to-end, so the chain
is still the origin's, not the proxy's. The socket addresses are kept apart under
`sealed`: the local address is the monitor's own, and through a proxy the server address
is the proxy's, so worker.custody.log keeps them out of anything an auditor receives.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import ssl
from typing import Any

import httpx
from cryptography import x509

__all__ = ["cert_facts", "connection_info"]

log = logging.getLogger(__name__)

_DER = 2  # _ssl.ENCODING_DER: Certificate.public_bytes() takes it (PEM is 1)


def connection_info(response: httpx.Response) -> dict[str, Any] | None:
    """`{"tls": {...} | None, "tls_note": str?, "sealed": {"local_addr", "server_addr"}}`."""
    stream = response.extensions.get("network_stream")
    https = response.request.url.scheme == "https"
    if stream is None:
        if not https:
            return None
        return {"tls": None, "tls_note": "the transport exposes no network stream"}
    info: dict[str, Any] = {"tls": None}
    if https:
        try:
            ssl_object = stream.get_extra_info("ssl_object")
        except Exception as exc:  # optional evidence: never fail a fetch over it
            ssl_object = None
            info["tls_note"] = f"no TLS object: {type(exc).__name__}"
        if ssl_object is None:
            info.setdefault("tls_note", "the transport exposes no TLS object")
        else:
            info["tls"] = _tls_facts(ssl_object)
    info["sealed"] = {
        "local_addr": _addr(stream, "client_addr"),
        "server_addr": _addr(stream, "server_addr"),
    }
    return info


def _addr(stream: Any, name: str) -> str | None:
    try:
        addr = stream.get_extra_info(name)
    except Exception:
        return None
    if isinstance(addr, tuple) and addr:
        return f"{addr[0]}:{addr[1]}" if len(addr) > 1 else str(addr[0])
    return None


def _tls_facts(ssl_object: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    try:
        facts["version"] = ssl_object.version()
        cipher = ssl_object.cipher()
        facts["cipher"] = cipher[0] if cipher else None
    except Exception:
        pass
    ders, source = _chain(ssl_object)
    facts["chain_source"] = source
    facts["chain"] = [cert_facts(der) for der in ders]
    return facts


def _chain(ssl_object: Any) -> tuple[list[bytes], str]:
    """The verified chain (leaf first) when Python exposes it, else the leaf alone."""
    # ssl.SSLObject hides the C object as `_sslobj`; httpcore's sync stream hands us
    # the C socket itself. Both have get_verified_chain() on Python >= 3.10.
    target = getattr(ssl_object, "_sslobj", ssl_object)
    getter = getattr(target, "get_verified_chain", None)
    if getter is not None:
        try:
            return [c.public_bytes(_DER) for c in getter()], "verified_chain"
        except Exception as exc:
            log.debug("get_verified_chain failed: %s", exc)
    try:
        der = ssl_object.getpeercert(binary_form=True)
    except (ValueError, ssl.SSLError):
        der = None
    return ([der], "peer_certificate_only") if der else ([], "unavailable")


def cert_facts(der: bytes) -> dict[str, Any]:
    """Subject, issuer, validity and fingerprint of one DER certificate, plus the DER."""
    facts: dict[str, Any] = {
        "sha256": hashlib.sha256(der).hexdigest(),
        "der_b64": base64.b64encode(der).decode("ascii"),
    }
    try:
        cert = x509.load_der_x509_certificate(der)
        facts.update(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            serial=format(cert.serial_number, "x"),
            not_before=cert.not_valid_before_utc.isoformat(),
            not_after=cert.not_valid_after_utc.isoformat(),
        )
    except ValueError as exc:
        facts["parse_error"] = str(exc)
    return facts

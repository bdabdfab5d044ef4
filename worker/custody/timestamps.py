"""RFC 3161 timestamps: ask an authority (TSA) to sign "this sha256 existed at time T".

`request_token` builds a TimeStampReq (asn1crypto), POSTs it to the configured TSA
(`tsa_url`, off by default) and returns the DER timeStampToken. `verify_token` checks a
token offline: the imprint is our digest, the CMS signature verifies with the TSA
certificate inside the token, the signed message digest matches the TSTInfo, and, given
a trust anchor, the TSA certificate was issued by it. `openssl ts -verify` accepts the
same tokens (the tests cross-check with it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

__all__ = ["TimestampError", "TokenInfo", "build_request", "request_token", "verify_token"]

log = logging.getLogger(__name__)

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class TimestampError(ValueError):
    """The TSA refused or failed, or a token does not verify; the message says which."""


@dataclass(frozen=True)
class TokenInfo:
    gen_time: dt.datetime
    serial: int
    policy: str
    tsa_subject: str


def build_request(sha256_hex: str, nonce: int) -> bytes:
    return tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": bytes.fromhex(sha256_hex),
            },
            "nonce": nonce,
            "cert_req": True,  # the TSA certificate travels in the token: verifiable offline
        }
    ).dump()


def request_token(
    tsa_url: str,
    sha256_hex: str,
    *,
    post: Callable[..., httpx.Response] | None = None,
    timeout: float = 30.0,
) -> bytes:
    """POST a request for `sha256_hex`, check the reply, return the token's DER."""
    nonce = secrets.randbits(63)
    body = build_request(sha256_hex, nonce)
    send = post or httpx.post
    try:
        response = send(
            tsa_url,
            content=body,
            headers={"Content-Type": "application/timestamp-query"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise TimestampError(f"TSA {tsa_url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise TimestampError(f"TSA {tsa_url}: HTTP {response.status_code}")
    try:
        reply = tsp.TimeStampResp.load(response.content)
        status = reply["status"]["status"].native
    except ValueError as exc:
        raise TimestampError(f"TSA {tsa_url}: reply is not a TimeStampResp ({exc})") from exc
    if status not in ("granted", "granted_with_mods"):
        text = reply["status"]["status_string"].native
        raise TimestampError(f"TSA {tsa_url}: {status} {text or ''}".strip())
    token = reply["time_stamp_token"].dump()
    info = verify_token(token, sha256_hex)
    if _tst(token)["nonce"].native != nonce:
        raise TimestampError(f"TSA {tsa_url}: nonce in the reply is not ours")
    log.info("timestamp for %s from %s at %s", sha256_hex[:16], tsa_url, info.gen_time)
    return token


def _signed_data(token: bytes) -> Any:
    try:
        info = cms.ContentInfo.load(token)
        if info["content_type"].native != "signed_data":
            raise TimestampError("token is not CMS SignedData")
        return info["content"]
    except ValueError as exc:
        raise TimestampError(f"token unreadable: {exc}") from exc


def _tst(token: bytes) -> Any:
    encap = _signed_data(token)["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise TimestampError("token does not hold a TSTInfo")
    return encap["content"].parsed


def verify_token(token: bytes, sha256_hex: str, *, ca_pem: bytes | None = None) -> TokenInfo:
    """Raise TimestampError unless `token` timestamps `sha256_hex` with a valid signature."""
    sd = _signed_data(token)
    encap = sd["encap_content_info"]
    tst = _tst(token)
    imprint = tst["message_imprint"]
    if imprint["hash_algorithm"]["algorithm"].native != "sha256":
        raise TimestampError("token imprint is not sha256")
    if imprint["hashed_message"].native != bytes.fromhex(sha256_hex):
        raise TimestampError("token timestamps a different digest")
    signers = list(sd["signer_infos"])
    if len(signers) != 1:
        raise TimestampError(f"token has {len(signers)} signers, expected 1")
    si = signers[0]
    cert = _signer_cert(sd, si)
    digest_name = si["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        raise TimestampError(f"unsupported digest {digest_name}")
    content = encap["content"].contents
    want = hashlib.new(digest_name, content).digest()
    attrs = si["signed_attrs"]
    got = next((a["values"][0].native for a in attrs if a["type"].native == "message_digest"), None)
    if got != want:
        raise TimestampError("signed message digest does not match the TSTInfo")
    # The signature covers the signed attributes re-tagged as a SET (RFC 5652 §5.4).
    signed = b"\x31" + attrs.dump()[1:]
    _check_signature(cert, si["signature"].native, signed, _HASHES[digest_name]())
    if ca_pem is not None:
        _check_issuer(cert, ca_pem)
    return TokenInfo(
        gen_time=tst["gen_time"].native,
        serial=int(tst["serial_number"].native),
        policy=str(tst["policy"].native),
        tsa_subject=cert.subject.rfc4514_string(),
    )


def _signer_cert(sd: Any, si: Any) -> x509.Certificate:
    sid = si["sid"]
    if sid.name != "issuer_and_serial_number":
        raise TimestampError("signer identified by key id: not supported")
    serial = sid.chosen["serial_number"].native
    for choice in sd["certificates"] or []:
        if choice.name == "certificate" and choice.chosen.serial_number == serial:
            return x509.load_der_x509_certificate(choice.chosen.dump())
    raise TimestampError("TSA certificate not in the token (request it with certReq)")


def _check_signature(
    cert: x509.Certificate, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm
) -> None:
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            raise TimestampError(f"unsupported TSA key type {type(key).__name__}")
    except InvalidSignature as exc:
        raise TimestampError("TSA signature does not verify (token altered)") from exc


def _check_issuer(cert: x509.Certificate, ca_pem: bytes) -> None:
    ca = x509.load_pem_x509_certificate(ca_pem)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise TimestampError(
            f"TSA certificate {cert.subject.rfc4514_string()} not issued by the trusted CA"
        ) from exc
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise TimestampError("TSA certificate lacks the timeStamping key usage") from exc
    if x509.ExtendedKeyUsageOID.TIME_STAMPING not in eku:
        raise TimestampError("TSA certificate lacks the timeStamping key usage")

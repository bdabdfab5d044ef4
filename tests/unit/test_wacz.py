"""archive.wacz: the zip layout replay tools read, the WACZ-spec signature, verification.

The package comes from tests/wacz_sample.py: real WARC files through the real writer,
exported with a real P-384 key. `wacz validate` (py-wacz, a uv tool that .ci/test
installs) checks it as the ecosystem's validator; ReplayWeb.page's replay of it is
tests/integration/test_wacz_replayweb.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from typer.testing import CliRunner

from archive.wacz import needs_zip64, public_key_spki, verify_wacz
from tests.wacz_sample import SampleWacz, make_sample_wacz
from worker.cli import app
from worker.custody.keys import WACZ_KEY_FILE, load_or_create_wacz_key

# py-wacz runs as a uv tool, like pywb (.ci/test installs it)
WACZ_TOOL = ["uv", "tool", "run", "--offline", "--python", "3.11", "--from", "wacz==0.6.0", "wacz"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleWacz:
    return make_sample_wacz(tmp_path_factory.mktemp("wacz"))


def _digest(path: Path) -> dict[str, object]:
    with zipfile.ZipFile(path) as zf:
        return dict(json.loads(zf.read("datapackage-digest.json")))


def _rewritten(src: Path, dest: Path, name: str, data: bytes) -> Path:
    """A copy of `src` with member `name` replaced (every other member byte-identical)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, data if info.filename == name else zin.read(info.filename))
    return dest


# -- zip layout -------------------------------------------------------------------------


def test_no_member_has_a_zip64_field_only_in_its_local_header(sample: SampleWacz) -> None:
    """ReplayWeb.page finds a member's data at header_offset + 30 + name + the central
    directory's extra length when that is empty; a local-only ZIP64 field (force_zip64)
    made it read every WARC record 20 bytes early."""
    raw = sample.path.read_bytes()
    with zipfile.ZipFile(sample.path) as zf:
        infos = zf.infolist()
    warcs = [i for i in infos if i.filename.startswith("archive/")]
    assert warcs
    for info in infos:
        local = raw[info.header_offset : info.header_offset + 30]
        assert local[:4] == b"PK\x03\x04"
        name_len, local_extra = struct.unpack("<HH", local[26:30])
        assert local_extra == len(info.extra) == 0, info.filename
        start = info.header_offset + 30 + name_len + len(info.extra)  # where ReplayWeb reads
        if info in warcs:
            assert raw[start : start + 2] == b"\x1f\x8b", info.filename  # a gzip member
            with zipfile.ZipFile(sample.path) as zf:
                assert raw[start : start + info.compress_size] == zf.read(info.filename)


def test_zip64_only_past_zipfiles_own_limit() -> None:
    assert not needs_zip64(0)
    assert not needs_zip64(zipfile.ZIP64_LIMIT)
    assert needs_zip64(zipfile.ZIP64_LIMIT + 1)


# -- signature --------------------------------------------------------------------------


def test_signed_per_the_wacz_signing_spec_anonymous_mode(sample: SampleWacz) -> None:
    digest = _digest(sample.path)
    with zipfile.ZipFile(sample.path) as zf:
        package_bytes = zf.read("datapackage.json")
    package = json.loads(package_bytes)
    assert digest["hash"] == "sha256:" + hashlib.sha256(package_bytes).hexdigest()
    assert "sourcevaultSignature" not in digest
    signed = digest["signedData"]
    assert isinstance(signed, dict)
    assert set(signed) == {"hash", "created", "software", "version", "signature", "publicKey"}
    assert signed["hash"] == digest["hash"]
    assert signed["created"] == package["created"] == "2021-10-01T09:00:00Z"
    assert str(signed["software"]).startswith("sourcevault")
    # publicKey: base64 DER SubjectPublicKeyInfo of a P-384 key (what wabac.js imports)
    public = serialization.load_der_public_key(base64.b64decode(signed["publicKey"]))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp384r1"
    key = load_or_create_wacz_key(sample.data_dir)
    assert public_key_spki(public) == public_key_spki(key.public_key())
    # signature: base64 of raw r||s (WebCrypto's form), ECDSA/SHA-256 over the hash string
    sig = base64.b64decode(signed["signature"])
    assert len(sig) == 96
    der = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))
    public.verify(der, str(signed["hash"]).encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        public.verify(der, b"sha256:" + b"0" * 64, ec.ECDSA(hashes.SHA256()))


def test_verify_wacz_checks_the_spec_signature(sample: SampleWacz, tmp_path: Path) -> None:
    check = verify_wacz(sample.path)
    assert check.ok, check.problems
    assert check.checked_records > 0 and check.checked_files == 5
    assert check.key_fingerprint == sample.export.key_fingerprint
    spki = public_key_spki(load_or_create_wacz_key(sample.data_dir).public_key())
    assert verify_wacz(sample.path, trusted_key=spki).ok
    other = public_key_spki(ec.generate_private_key(ec.SECP384R1()).public_key())
    wrong = verify_wacz(sample.path, trusted_key=other)
    assert [p for p in wrong.problems if "not the trusted key" in p]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("signature", None, "signature does not match the hash"),
        ("created", "2021-10-02T09:00:00Z", "created 2021-10-02T09:00:00Z != datapackage.json's"),
        ("hash", "sha256:" + "0" * 64, "signs hash sha256:000"),
        ("publicKey", None, "signature does not match the hash"),  # someone else's key
    ],
)
def test_a_changed_signed_data_field_fails_naming_it(
    sample: SampleWacz, tmp_path: Path, field: str, value: str | None, expected: str
) -> None:
    digest = _digest(sample.path)
    signed = dict(digest["signedData"])  # type: ignore[call-overload]
    if field == "signature":
        sig = bytearray(base64.b64decode(signed["signature"]))
        sig[10] ^= 0x01
        value = base64.b64encode(bytes(sig)).decode()
    elif field == "publicKey":
        other = ec.generate_private_key(ec.SECP384R1()).public_key()
        value = base64.b64encode(public_key_spki(other)).decode()
    signed[field] = value
    digest["signedData"] = signed
    bad = _rewritten(
        sample.path, tmp_path / "bad.wacz", "datapackage-digest.json", json.dumps(digest).encode()
    )
    check = verify_wacz(bad)
    assert not check.ok
    assert any(expected in p for p in check.problems), check.problems


def test_an_unsigned_package_fails(sample: SampleWacz, tmp_path: Path) -> None:
    digest = _digest(sample.path)
    del digest["signedData"]
    bad = _rewritten(
        sample.path, tmp_path / "u.wacz", "datapackage-digest.json", json.dumps(digest).encode()
    )
    assert verify_wacz(bad).problems == ["datapackage-digest.json: no signedData: unsigned"]


def test_a_package_signed_the_old_way_still_verifies(sample: SampleWacz, tmp_path: Path) -> None:
    """Exports before #19 carried `sourcevaultSignature` (Ed25519 over the hash string)."""
    digest = _digest(sample.path)
    del digest["signedData"]
    old_key = Ed25519PrivateKey.generate()
    raw = old_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    digest["sourcevaultSignature"] = {
        "algorithm": "Ed25519",
        "publicKey": base64.b64encode(raw).decode(),
        "signature": base64.b64encode(old_key.sign(str(digest["hash"]).encode())).decode(),
    }
    old = _rewritten(
        sample.path, tmp_path / "old.wacz", "datapackage-digest.json", json.dumps(digest).encode()
    )
    check = verify_wacz(old, trusted_key=public_key_spki(old_key.public_key()))
    assert check.ok, check.problems


# -- the key ----------------------------------------------------------------------------


def test_the_wacz_key_is_made_once_0600_with_its_public_key(tmp_path: Path) -> None:
    key = load_or_create_wacz_key(tmp_path)
    path = tmp_path / WACZ_KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"
    again = load_or_create_wacz_key(tmp_path)
    assert public_key_spki(again.public_key()) == public_key_spki(key.public_key())
    pub = serialization.load_pem_public_key(path.with_suffix(".pub.pem").read_bytes())
    assert public_key_spki(pub) == public_key_spki(key.public_key())  # type: ignore[arg-type]
    os.chmod(path, 0o640)
    with pytest.raises(PermissionError, match="readable by others"):
        load_or_create_wacz_key(tmp_path)


# -- the tools --------------------------------------------------------------------------


def test_cli_verify_wacz_checks_the_signature_and_the_public_key(
    sample: SampleWacz, tmp_path: Path
) -> None:
    runner = CliRunner()
    pub = sample.data_dir / WACZ_KEY_FILE.with_suffix(".pub.pem")
    ok = runner.invoke(app, ["verify-wacz", str(sample.path), "--public-key", str(pub)])
    assert ok.exit_code == 0, ok.output
    assert f"signing key {sample.export.key_fingerprint}: ok" in ok.output
    other = tmp_path / "other.pub.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    bad = runner.invoke(app, ["verify-wacz", str(sample.path), "--public-key", str(other)])
    assert bad.exit_code == 1
    assert "MISMATCH" in bad.output and "not the trusted key" in bad.output


def test_py_wacz_validates_the_package_and_sees_its_signature(sample: SampleWacz) -> None:
    """`wacz validate` checks every hash, and for a package with `signedData` the signed
    `created` against datapackage.json's. (Its `--verify-auth` checks only the spec's
    domain-certificate mode: authsign's Verifier requires domainCert and an RFC 3161
    timeSignature chained to its pinned roots, so no anonymous signature passes it.)"""
    if shutil.which("uv") is None:
        pytest.skip("uv is not on PATH")
    proc = subprocess.run(
        [*WACZ_TOOL, "validate", "-f", str(sample.path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0 and "No solution found" in proc.stderr:
        pytest.skip(f"py-wacz is not installed as a uv tool (.ci/test installs it): {proc.stderr}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation succeeded" in proc.stdout
    assert "Has signature" in proc.stdout  # py-wacz found signedData, checked its created

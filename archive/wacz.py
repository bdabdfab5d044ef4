"""One digest as a signed WACZ 1.1.1 package, and its offline verification.

Layout (every file two levels deep, as `wacz validate` expects):

    archive/<name>.warc.gz     the WARC files holding the digest's captures (ZIP_STORED,
                               so replay tools read records at their offsets)
    indexes/index.cdx          CDXJ of those files (cdxj-indexer, as in the collection)
    pages/pages.jsonl          one page per archived source: url, ts, title, footnotes
    sourcevault/report.json    the verification report (schemas.Report)
    datapackage.json           every file above with its sha256 and size
    datapackage-digest.json    sha256 of datapackage.json, and its signature (`signedData`)

Signing follows the WACZ Signing and Verification spec (0.1.0), anonymous mode: the
`signedData` of datapackage-digest.json holds `hash` (`sha256:<hex>` of datapackage.json),
`created` (the datapackage's own `created`, which `wacz validate` compares), `software`,
`version`, `signature` and `publicKey`. The signature is ECDSA with SHA-256 over the UTF-8
bytes of `hash`, base64 of the raw r||s pair (IEEE P1363, what WebCrypto's verify takes);
`publicKey` is base64 of the key's DER SubjectPublicKeyInfo. The key is the data dir's
P-384 key (worker.custody.log.load_or_create_wacz_key, 0600, made on first use): P-384
because ReplayWeb.page imports anonymous public keys as P-384, and it is the tool that
checks these signatures (py-wacz 0.6.0's `--verify-auth` checks only the spec's other,
domain-certificate mode). A signature proves the package is unchanged since export; that
it came from *us* needs the public key compared against one obtained separately
(`verify_wacz(trusted_key=...)`, `sourcevault verify-wacz --public-key`). The custody log
under `custody/` carries its own Ed25519 seal, checked by `sourcevault verify --wacz`.
Packages exported before this carried a private `sourcevaultSignature` (Ed25519) instead;
`verify_wacz` still checks those.

Zip layout. Members are written without ZIP64 extra fields unless they need one (over
zipfile.ZIP64_LIMIT): Python's `force_zip64` puts one in the local header only, and
ReplayWeb.page, which finds a member's data from the central directory's extra-field
length when that is empty, then reads every WARC record 20 bytes early.

We write the zip ourselves (py-wacz's `create` indexes and detects pages its own way,
and signs only through a remote signing server); `wacz validate` checks the result in
the tests. The WARC files are whole files: records of other digests that share a file
travel along (a limitation; the index and pages name only what the file holds).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from archive.cdxj import index_lines
from archive.warc_reader import check_file, read_record
from archive.warc_writer import OPEN_SUFFIX
from schemas import Report

__all__ = [
    "WACZ_VERSION",
    "WaczCheck",
    "WaczExport",
    "export_wacz",
    "needs_zip64",
    "public_key_fingerprint",
    "public_key_spki",
    "sign_package_hash",
    "verify_wacz",
]

log = logging.getLogger(__name__)

WACZ_VERSION = "1.1.1"
SIGNED_DATA_FIELD = "signedData"  # the WACZ signing spec's
SIGNED_DATA_VERSION = "0.1.0"  # of the WACZ Signing and Verification spec
LEGACY_SIGNATURE_FIELD = "sourcevaultSignature"  # Ed25519, packages exported before #19
REPORT_PATH = "sourcevault/report.json"
INDEX_PATH = "indexes/index.cdx"
PAGES_PATH = "pages/pages.jsonl"
_READ = 1 << 20


@dataclass(frozen=True)
class WaczExport:
    path: Path
    warc_files: list[str]
    pages: int
    package_hash: str  # sha256:<hex> of datapackage.json, the signed value
    key_fingerprint: str


@dataclass
class WaczCheck:
    path: Path
    problems: list[str] = field(default_factory=list)
    checked_files: int = 0
    checked_records: int = 0
    key_fingerprint: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


# -- keys ------------------------------------------------------------------------------


def public_key_spki(key: ec.EllipticCurvePublicKey | Ed25519PublicKey) -> bytes:
    """DER SubjectPublicKeyInfo: what `publicKey` holds (base64) and `trusted_key` takes."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_fingerprint(spki: bytes) -> str:
    """sha256 of a public key's DER SubjectPublicKeyInfo."""
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def sign_package_hash(
    key: ec.EllipticCurvePrivateKey, package_hash: str, *, created: str, software: str
) -> dict[str, str]:
    """The spec's anonymous `signedData` for `package_hash` (see the module docstring)."""
    der = key.sign(package_hash.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    n = _coordinate_bytes(key.curve)
    return {
        "hash": package_hash,
        "created": created,
        "software": software,
        "version": SIGNED_DATA_VERSION,
        "signature": base64.b64encode(r.to_bytes(n, "big") + s.to_bytes(n, "big")).decode(),
        "publicKey": base64.b64encode(public_key_spki(key.public_key())).decode("ascii"),
    }


def _coordinate_bytes(curve: ec.EllipticCurve) -> int:
    return (curve.key_size + 7) // 8


def _default_software() -> str:
    try:
        return f"sourcevault {metadata.version('sourcevault')}"
    except metadata.PackageNotFoundError:  # run from a source tree without installing
        return "sourcevault"


# -- export ----------------------------------------------------------------------------


def export_wacz(
    out: Path,
    *,
    report: Report,
    archive_dir: Path,
    warc_files: Sequence[str],
    key: ec.EllipticCurvePrivateKey,
    extra_files: dict[str, bytes] | None = None,
    created: dt.datetime | None = None,
    software: str | None = None,
) -> WaczExport:
    """Write `out` (atomically: temp file, then rename) and return what went in.

    `extra_files` (e.g. the custody log under `custody/`) go in as listed, hashed
    resources; their paths must be `<dir>/<name>`, as `wacz validate` requires.
    """
    for arcname in extra_files or {}:
        if arcname.count("/") != 1 or arcname.split("/")[0] in ("archive", "indexes", "pages"):
            raise ValueError(f"extra WACZ file {arcname!r} must be <dir>/<name> in its own dir")
    if not warc_files:
        raise ValueError(f"digest {report.digest.id} has no archived captures to export")
    created_s = (created or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    created_iso = created_s.strftime("%Y-%m-%dT%H:%M:%SZ")
    software = software or _default_software()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    resources: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="wacz-") as tmp_dir:
        tmp = Path(tmp_dir)
        warcs = [_stage_warc(Path(archive_dir), name, tmp) for name in sorted(set(warc_files))]
        lines: list[str] = []
        for path in warcs:
            lines.extend(index_lines(path))
        index = "".join(sorted(lines)).encode("utf-8")
        pages = _pages_jsonl(report)
        report_bytes = report.model_dump_json(indent=2).encode("utf-8")
        partial = out.with_name(f".{out.name}.partial")
        with zipfile.ZipFile(partial, "w", allowZip64=True) as zf:
            for path in warcs:
                resources.append(_add_file(zf, f"archive/{path.name}", path))
            resources.append(_add_bytes(zf, INDEX_PATH, index))
            resources.append(_add_bytes(zf, PAGES_PATH, pages))
            resources.append(_add_bytes(zf, REPORT_PATH, report_bytes))
            for arcname, data in sorted((extra_files or {}).items()):
                resources.append(_add_bytes(zf, arcname, data))
            package = {
                "profile": "data-package",
                "resources": resources,
                "wacz_version": WACZ_VERSION,
                "title": f"{report.digest.title} ({report.digest.id})",
                "description": f"Archived sources of digest {report.digest.id}",
                "created": created_iso,
                "software": software,
            }
            package_bytes = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
            package_hash = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
            signed = sign_package_hash(key, package_hash, created=created_iso, software=software)
            digest = {"path": "datapackage.json", "hash": package_hash, SIGNED_DATA_FIELD: signed}
            _write_entry(zf, "datapackage.json", package_bytes, zipfile.ZIP_DEFLATED)
            digest_bytes = json.dumps(digest, indent=2).encode("utf-8")
            _write_entry(zf, "datapackage-digest.json", digest_bytes, zipfile.ZIP_DEFLATED)
        os.replace(partial, out)
    log.info("wrote %s: %d WARC files, %s", out, len(warcs), package_hash)
    return WaczExport(
        path=out,
        warc_files=[p.name for p in warcs],
        pages=pages.count(b"\n") - 1,
        package_hash=package_hash,
        key_fingerprint=public_key_fingerprint(public_key_spki(key.public_key())),
    )


def _stage_warc(archive_dir: Path, name: str, tmp: Path) -> Path:
    """A copy of one WARC file; of a still-open file, its whole, valid records only."""
    final = archive_dir / name
    staged = tmp / name
    if final.exists():
        shutil.copyfile(final, staged)
        return staged
    open_path = archive_dir / (name + OPEN_SUFFIX)
    if not open_path.exists():
        raise FileNotFoundError(f"WARC file {name} is not in {archive_dir}")
    end = check_file(open_path).valid_end  # a live writer may be mid-record at the end
    with open(open_path, "rb") as src, open(staged, "wb") as dst:
        remaining = end
        while remaining > 0:
            chunk = src.read(min(_READ, remaining))
            if not chunk:
                break
            dst.write(chunk)
            remaining -= len(chunk)
    return staged


def _pages_jsonl(report: Report) -> bytes:
    header = {"format": "json-pages-1.0", "id": "pages", "title": "Sources"}
    rows = [json.dumps(header)]
    for s in report.sources:
        if s.capture is None:
            continue
        page = {
            "id": f"source-{s.id}",
            "url": s.final_url or s.canonical_url,
            "ts": s.capture.captured_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "title": s.title or s.url,
            "footnotes": s.footnotes,
            "status": s.status.value,
        }
        if s.text_excerpt:
            page["text"] = s.text_excerpt
        rows.append(json.dumps(page, ensure_ascii=False))
    return ("\n".join(rows) + "\n").encode("utf-8")


def _resource(path: str, digest: str, size: int) -> dict[str, object]:
    res: dict[str, object] = {
        "name": path.rsplit("/", 1)[-1].lower(),
        "path": path,
        "hash": digest,
        "bytes": size,
    }
    if path.endswith(".json"):
        # plain JSON data: without a type, frictionless (`wacz validate`) reads any
        # `*report.json` as one of its own validation reports, and fails it
        res["type"] = "json"
    return res


def _add_file(zf: zipfile.ZipFile, arcname: str, path: Path) -> dict[str, object]:
    # WARCs are stored, not deflated: readers seek to record offsets inside the zip
    info = zipfile.ZipInfo(arcname, _zip_time())
    info.compress_type = zipfile.ZIP_STORED
    h = hashlib.sha256()
    size = 0
    # The staged file's size is known: ZIP64 only when it needs it. (With force_zip64,
    # or a file_size set near the limit, zipfile writes the ZIP64 extra in the local
    # header only, and ReplayWeb.page reads the member at the wrong offset.)
    with (
        open(path, "rb") as src,
        zf.open(info, "w", force_zip64=needs_zip64(path.stat().st_size)) as dst,
    ):
        while chunk := src.read(_READ):
            h.update(chunk)
            size += len(chunk)
            dst.write(chunk)
    return _resource(arcname, "sha256:" + h.hexdigest(), size)


def needs_zip64(size: int) -> bool:
    """Whether a member of `size` bytes needs ZIP64 fields (zipfile's own limit, so the
    central directory, which zipfile decides by the same limit, agrees)."""
    return size > zipfile.ZIP64_LIMIT


def _add_bytes(zf: zipfile.ZipFile, arcname: str, data: bytes) -> dict[str, object]:
    _write_entry(zf, arcname, data, zipfile.ZIP_DEFLATED)
    return _resource(arcname, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))


def _write_entry(zf: zipfile.ZipFile, arcname: str, data: bytes, compress: int) -> None:
    info = zipfile.ZipInfo(arcname, _zip_time())
    info.compress_type = compress
    zf.writestr(info, data)


def _zip_time() -> tuple[int, int, int, int, int, int]:
    t = dt.datetime.now(dt.UTC)
    return (t.year, t.month, t.day, t.hour, t.minute, t.second)


# -- verification ----------------------------------------------------------------------


def verify_wacz(path: Path, *, trusted_key: bytes | None = None) -> WaczCheck:
    """Re-check a WACZ offline: file hashes, WARC record digests, report captures, the
    package hash and its signature. Every mismatch is named in `problems`.

    `trusted_key`: the DER SubjectPublicKeyInfo the signature must be made with."""
    path = Path(path)
    check = WaczCheck(path)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        check.problems.append(f"{path}: not a readable zip: {exc}")
        return check
    with zf, tempfile.TemporaryDirectory(prefix="wacz-verify-") as tmp_dir:
        names = set(zf.namelist())
        for required in ("datapackage.json", "datapackage-digest.json"):
            if required not in names:
                check.problems.append(f"{required}: missing")
        if check.problems:
            return check
        package_bytes = _read_entry(zf, "datapackage.json", check)
        digest_bytes = _read_entry(zf, "datapackage-digest.json", check)
        try:
            package = json.loads(package_bytes)
            digest = json.loads(digest_bytes)
        except ValueError as exc:
            check.problems.append(f"datapackage: not JSON: {exc}")
            return check
        _check_signature(check, package_bytes, package, digest, trusted_key)
        staged = _check_resources(zf, package, names, Path(tmp_dir), check)
        for arcname, local in staged.items():
            if arcname.startswith("archive/"):
                _check_warc(arcname, local, check)
        if REPORT_PATH in staged:
            _check_report_captures(staged, check)
    if check.ok:
        log.info(
            "%s verified: %d files, %d records", path, check.checked_files, check.checked_records
        )
    return check


def _read_entry(zf: zipfile.ZipFile, name: str, check: WaczCheck) -> bytes:
    try:
        return zf.read(name)
    except zipfile.BadZipFile as exc:  # a CRC mismatch: the stored bytes were changed
        check.problems.append(f"{name}: {exc}")
        return _raw_stored(zf, zf.getinfo(name))


def _raw_stored(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """An entry's bytes without zipfile's CRC check, to hash what is really there."""
    if info.compress_type != zipfile.ZIP_STORED or zf.fp is None:
        return b""
    zf.fp.seek(info.header_offset)
    header = zf.fp.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    zf.fp.seek(info.header_offset + 30 + name_len + extra_len)
    return zf.fp.read(info.compress_size)


def _check_signature(
    check: WaczCheck,
    package_bytes: bytes,
    package: dict[str, object],
    digest: dict[str, object],
    trusted: bytes | None,
) -> None:
    actual = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
    if digest.get("hash") != actual:
        check.problems.append(
            f"datapackage.json: hash {actual} differs from datapackage-digest.json's "
            f"{digest.get('hash')}"
        )
    signed = digest.get(SIGNED_DATA_FIELD)
    legacy = digest.get(LEGACY_SIGNATURE_FIELD)
    if isinstance(signed, dict):
        spki = _check_signed_data(check, signed, digest, package)
    elif isinstance(legacy, dict):
        spki = _check_legacy_signature(check, legacy, digest)
    else:
        check.problems.append(f"datapackage-digest.json: no {SIGNED_DATA_FIELD}: unsigned")
        return
    if spki is None:
        return
    check.key_fingerprint = public_key_fingerprint(spki)
    if trusted is not None and spki != trusted:
        check.problems.append(
            f"datapackage-digest.json: signed by key {check.key_fingerprint}, "
            f"not the trusted key {public_key_fingerprint(trusted)}"
        )


def _check_signed_data(
    check: WaczCheck,
    signed: dict[str, object],
    digest: dict[str, object],
    package: dict[str, object],
) -> bytes | None:
    """The spec's anonymous mode; returns the signing key's SPKI when the signature holds."""
    where = f"datapackage-digest.json: {SIGNED_DATA_FIELD}"
    if signed.get("hash") != digest.get("hash"):
        check.problems.append(f"{where}: signs hash {signed.get('hash')}, not {digest.get('hash')}")
        return None
    if signed.get("created") != package.get("created"):
        check.problems.append(
            f"{where}: created {signed.get('created')} != datapackage.json's "
            f"{package.get('created')}"
        )
    if "publicKey" not in signed:
        kind = "domain-certificate" if "domainCert" in signed else "unknown"
        check.problems.append(
            f"{where}: a {kind} signature without publicKey: only the anonymous mode "
            "(publicKey) is checked here"
        )
        return None
    try:
        spki = base64.b64decode(str(signed["publicKey"]), validate=True)
        signature = base64.b64decode(str(signed["signature"]), validate=True)
        public = serialization.load_der_public_key(spki)
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError("publicKey is not an ECDSA key")
        n = _coordinate_bytes(public.curve)
        if len(signature) == 2 * n:  # raw r||s, as WebCrypto signs
            r, s = int.from_bytes(signature[:n], "big"), int.from_bytes(signature[n:], "big")
            signature = encode_dss_signature(r, s)
        public.verify(signature, str(signed["hash"]).encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except (KeyError, ValueError, UnsupportedAlgorithm) as exc:
        check.problems.append(f"{where}: unreadable signature: {exc}")
        return None
    except InvalidSignature:
        check.problems.append(f"{where}: signature does not match the hash")
        return None
    return spki


def _check_legacy_signature(
    check: WaczCheck, sig: dict[str, object], digest: dict[str, object]
) -> bytes | None:
    """`sourcevaultSignature`: Ed25519 over the UTF-8 bytes of `hash`, raw public key."""
    try:
        public = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(str(sig["publicKey"]), validate=True)
        )
        signature = base64.b64decode(str(sig["signature"]), validate=True)
        public.verify(signature, str(digest.get("hash")).encode("utf-8"))
    except (KeyError, ValueError) as exc:
        check.problems.append(f"datapackage-digest.json: unreadable signature: {exc}")
        return None
    except InvalidSignature:
        check.problems.append("datapackage-digest.json: signature does not match the hash")
        return None
    return public_key_spki(public)


def _check_resources(
    zf: zipfile.ZipFile,
    package: dict[str, object],
    names: set[str],
    tmp: Path,
    check: WaczCheck,
) -> dict[str, Path]:
    """Hash every listed file; returns where each was unpacked for deeper checks."""
    resources = package.get("resources")
    if not isinstance(resources, list):
        check.problems.append("datapackage.json: no resources list")
        return {}
    listed = {str(r.get("path")) for r in resources if isinstance(r, dict)}
    for extra in sorted(names - listed - {"datapackage.json", "datapackage-digest.json"}):
        check.problems.append(f"{extra}: in the zip but not listed in datapackage.json")
    staged: dict[str, Path] = {}
    for res in resources:
        if not isinstance(res, dict):
            continue
        arcname = str(res.get("path"))
        if arcname not in names:
            check.problems.append(f"{arcname}: listed in datapackage.json but missing")
            continue
        local = tmp / arcname.replace("/", "__")
        actual, size = _unpack(zf, arcname, local, check)
        check.checked_files += 1
        if actual != res.get("hash"):
            check.problems.append(f"{arcname}: sha256 {actual} != datapackage's {res.get('hash')}")
        elif size != res.get("bytes"):
            check.problems.append(f"{arcname}: {size} bytes != datapackage's {res.get('bytes')}")
        staged[arcname] = local
    return staged


def _unpack(zf: zipfile.ZipFile, arcname: str, local: Path, check: WaczCheck) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    try:
        with zf.open(arcname) as src, open(local, "wb") as dst:
            while chunk := src.read(_READ):
                h.update(chunk)
                size += len(chunk)
                dst.write(chunk)
    except zipfile.BadZipFile as exc:  # CRC mismatch: hash the bytes really stored
        check.problems.append(f"{arcname}: {exc}")
        data = _raw_stored(zf, zf.getinfo(arcname))
        local.write_bytes(data)
        return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)
    return "sha256:" + h.hexdigest(), size


def _check_warc(arcname: str, local: Path, check: WaczCheck) -> None:
    result = check_file(local)
    check.checked_records += len(result.records)
    if not result.records:
        check.problems.append(f"{arcname}: no WARC records")
    for rec in result.records:
        if not rec.ok:
            target = f" ({rec.target_uri})" if rec.target_uri else ""
            check.problems.append(
                # warcio quotes the undecodable bytes it met: keep the message readable
                f"{arcname}: record at offset {rec.offset}{target}: {'; '.join(rec.problems)[:300]}"
            )


def _check_report_captures(staged: dict[str, Path], check: WaczCheck) -> None:
    """Each capture the report names must be in the package, with its recorded sha256."""
    try:
        report = Report.model_validate_json(staged[REPORT_PATH].read_bytes())
    except ValueError as exc:
        check.problems.append(f"{REPORT_PATH}: not a valid report: {exc}")
        return
    for s in report.sources:
        cap = s.capture
        if cap is None:
            continue
        local = staged.get(f"archive/{cap.warc_file}")
        if local is None:
            check.problems.append(f"{REPORT_PATH}: {s.url}: {cap.warc_file} is not in the package")
            continue
        try:
            rec = read_record(local, cap.offset)
        except Exception as exc:
            check.problems.append(
                f"archive/{cap.warc_file}: {s.url}: no record at {cap.offset}: {exc}"
            )
            continue
        if rec.record_id != cap.record_id:
            check.problems.append(
                f"archive/{cap.warc_file}: {s.url}: record {rec.record_id} at {cap.offset}, "
                f"report says {cap.record_id}"
            )
        elif rec.rec_type == "response" and rec.sha256 != cap.sha256:
            check.problems.append(
                f"archive/{cap.warc_file}: {s.url}: payload sha256 {rec.sha256} != "
                f"report's {cap.sha256}"
            )

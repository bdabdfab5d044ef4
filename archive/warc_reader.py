"""Read one WARC record by (file, offset) and verify whole files, record by record.

`warcio check` is not enough for crash recovery: on a WARC cut mid-record it exits 0 and
only says "digest present but not checked" for the last record. `check_file` therefore
adds, per gzip member: member integrity (the member must end, CRC checked by zlib),
bytes read == Content-Length, and counts "digest present but not checked" as a failure.
Digest verification itself is warcio's (`ArchiveIterator(check_digests=True)`); we only
add what warcio skips: revisit block digests and our `WARC-X-Payload-SHA256`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader, ChunkedDataReader, DecompressingBufferedReader
from warcio.digestverifyingreader import _compare_digest_rfc_3548, _parse_digest
from warcio.limitreader import LimitReader
from warcio.utils import Digester

from archive.records import SHA256_HEADER

__all__ = [
    "ArchivedRecord",
    "DecodedTooLarge",
    "FileCheck",
    "Member",
    "RecordCheck",
    "check_file",
    "check_member",
    "read_record",
    "scan_members",
]

log = logging.getLogger(__name__)

_READ = 1 << 16
_INFLATE_CAP = 1 << 20  # max inflated bytes held at once while scanning members


class DecodedTooLarge(ValueError):
    """The decoded (decompressed) payload exceeds the caller's cap (e.g. a gzip bomb)."""


@dataclass
class ArchivedRecord:
    """One record as stored. `payload` is raw: de-chunked but still content-encoded."""

    offset: int
    rec_type: str
    record_id: str
    target_uri: str | None
    warc_headers: list[tuple[str, str]]
    http_protocol: str | None
    http_status: int | None
    http_headers: list[tuple[str, str]]
    payload: bytes
    digests_ok: bool | None  # warcio's verdict: None when nothing could be checked

    def warc_header(self, name: str) -> str | None:
        return _get(self.warc_headers, name)

    def http_header(self, name: str) -> str | None:
        return _get(self.http_headers, name)

    @property
    def sha256(self) -> str:
        """Hex sha256 of the raw payload (the bytes `Capture.sha256` describes)."""
        return hashlib.sha256(self.payload).hexdigest()

    def decoded_payload(self, max_size: int = 64 * 1024 * 1024) -> bytes:
        """The payload with Content-Encoding (gzip, deflate, br) undone, capped.

        Raises DecodedTooLarge past `max_size` decoded bytes, and ValueError for an
        encoding we cannot undo. A `Transfer-Encoding: chunked` header (kept by other
        tools' records; ours rename it) is honoured with warcio's lenient de-chunker.
        """
        encoding = (self.http_header("Content-Encoding") or "identity").strip().lower()
        encoding = {"x-gzip": "gzip", "identity": ""}.get(encoding, encoding)
        if encoding and encoding not in BufferedReader.get_supported_decompressors():
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
        chunked = (self.http_header("Transfer-Encoding") or "").lower() == "chunked"
        src = io.BytesIO(self.payload)
        reader: Any
        if chunked:
            reader = ChunkedDataReader(src, decomp_type=encoding or None)
        elif encoding:
            reader = DecompressingBufferedReader(src, decomp_type=encoding)
        else:
            reader = src
        out = bytearray()
        while chunk := reader.read(_READ):
            out += chunk
            if len(out) > max_size:
                raise DecodedTooLarge(f"decoded payload exceeds {max_size} bytes")
        return bytes(out)


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    lname = name.lower()
    return next((v for k, v in headers if k.lower() == lname), None)


def read_record(path: str | Path, offset: int) -> ArchivedRecord:
    """Read the record whose gzip member starts at `offset`, verifying its digests."""
    with open(path, "rb") as f:
        f.seek(offset)
        it = ArchiveIterator(f, check_digests=True)
        try:
            rec = next(iter(it))
            payload = rec.raw_stream.read()  # after the HTTP headers warcio parsed
            if rec.raw_stream.read(1):  # pragma: no cover - read() reads to the limit
                raise RuntimeError("payload not fully read")
            http = rec.http_headers
            status: int | None = None
            if http is not None and rec.rec_type in ("response", "revisit"):
                try:
                    status = int(http.get_statuscode())
                except ValueError:
                    status = None
            return ArchivedRecord(
                offset=offset,
                rec_type=rec.rec_type,
                record_id=rec.rec_headers.get_header("WARC-Record-ID"),
                target_uri=rec.rec_headers.get_header("WARC-Target-URI"),
                warc_headers=list(rec.rec_headers.headers),
                http_protocol=http.protocol if http is not None else None,
                http_status=status,
                http_headers=list(http.headers) if http is not None else [],
                payload=payload,
                digests_ok=rec.digest_checker.passed,
            )
        finally:
            it.close()


# -- whole-file verification -----------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One gzip member of a file. `complete` is False when the file ends inside it."""

    offset: int
    length: int
    complete: bool
    error: str | None = None

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass
class RecordCheck:
    offset: int
    length: int
    rec_type: str | None = None
    record_id: str | None = None
    target_uri: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class FileCheck:
    path: Path
    records: list[RecordCheck]
    size: int

    @property
    def ok(self) -> bool:
        return bool(self.records) and all(r.ok for r in self.records)

    @property
    def valid_end(self) -> int:
        """End offset of the last record of the leading run of valid records."""
        end = 0
        for r in self.records:
            if not r.ok:
                break
            end = r.offset + r.length
        return end

    @property
    def first_problem(self) -> RecordCheck | None:
        return next((r for r in self.records if not r.ok), None)


def scan_members(f: BinaryIO) -> Iterator[Member]:
    """Find gzip member boundaries by inflating the stream (output is discarded).

    Memory is bounded by `_INFLATE_CAP` however well the data compresses. The scanner
    owns the file position while it runs: collect the members before seeking elsewhere.
    """
    f.seek(0)
    start = pos = 0  # pos: file offset of buf[0]
    d = zlib.decompressobj(zlib.MAX_WBITS | 16)
    buf = b""
    while True:
        if not buf:
            buf = f.read(_READ)
            if not buf:
                break
        try:
            d.decompress(buf, _INFLATE_CAP)
        except zlib.error as exc:
            yield Member(start, _file_size(f) - start, False, f"corrupt gzip: {exc}")
            return
        if d.eof:
            rest = d.unused_data
            end = pos + len(buf) - len(rest)
            yield Member(start, end - start, True)
            start = pos = end
            buf = rest
            d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        else:
            tail = d.unconsumed_tail
            pos += len(buf) - len(tail)
            buf = tail
    if pos > start:
        yield Member(start, pos - start, False, "gzip member ends early: file cut mid-record")


def _file_size(f: BinaryIO) -> int:
    here = f.tell()
    size = f.seek(0, io.SEEK_END)
    f.seek(here)
    return size


def check_member(f: BinaryIO, member: Member) -> RecordCheck:
    """Verify the single record inside one gzip member (see module docstring)."""
    check = RecordCheck(member.offset, member.length)
    if not member.complete:
        check.problems.append(member.error or "incomplete gzip member")
    f.seek(member.offset)
    it = ArchiveIterator(LimitReader(f, member.length), check_digests=True)
    try:
        count = 0
        for rec in it:
            count += 1
            if count > 1:
                check.problems.append("more than one record in one gzip member")
                break
            _check_record(rec, check)
            if check.rec_type == "revisit" and member.complete:
                _check_revisit_block(f, member, check)
        if count == 0:
            check.problems.append("no WARC record in gzip member")
    except Exception as exc:  # a damaged record: report it, never stop the scan
        check.problems.append(f"unreadable record: {type(exc).__name__}: {exc}")
    finally:
        it.close()
    return check


def _check_record(rec: Any, check: RecordCheck) -> None:
    headers = rec.rec_headers
    check.rec_type = rec.rec_type
    check.record_id = headers.get_header("WARC-Record-ID")
    check.target_uri = headers.get_header("WARC-Target-URI")
    want_sha = headers.get_header(SHA256_HEADER) if rec.rec_type == "response" else None
    sha = hashlib.sha256() if want_sha else None
    stream = rec.raw_stream  # the payload, after the HTTP headers warcio parsed
    while chunk := stream.read(_READ):
        if sha:
            sha.update(chunk)
    short = getattr(stream, "limit", 0)
    if short:
        check.problems.append(f"record ends {short} bytes short of its Content-Length")
    digest_present = headers.get_header("WARC-Payload-Digest") or headers.get_header(
        "WARC-Block-Digest"
    )
    passed = rec.digest_checker.passed
    if passed is False:
        check.problems.extend(rec.digest_checker.problems)
    elif not digest_present:
        check.problems.append("no digest to check")
    elif passed is None and rec.rec_type != "revisit":
        # warcio check's silent case: a cut record never reaches its digest comparison
        check.problems.append("digest present but not checked")
    if sha and want_sha and not short and sha.hexdigest() != want_sha.lower():
        check.problems.append(f"{SHA256_HEADER} mismatch: {sha.hexdigest()} != {want_sha}")


def _check_revisit_block(f: BinaryIO, member: Member, check: RecordCheck) -> None:
    """warcio skips digests of revisit records; verify the block digest ourselves."""
    f.seek(member.offset)
    it = ArchiveIterator(LimitReader(f, member.length), no_record_parse=True)
    try:
        rec = next(iter(it))
        block_digest = rec.rec_headers.get_header("WARC-Block-Digest")
        if not block_digest:
            check.problems.append("revisit without WARC-Block-Digest")
            return
        digester = Digester(_parse_digest(block_digest)[0])
        while chunk := rec.raw_stream.read(_READ):
            digester.update(chunk)
        if _compare_digest_rfc_3548(digester, block_digest) is not True:
            check.problems.append(f"revisit block digest failed: {block_digest}")
    finally:
        it.close()


def check_file(path: str | Path) -> FileCheck:
    """Verify every record of a `.warc.gz` file; `FileCheck.ok` only if all pass."""
    path = Path(path)
    with open(path, "rb") as f:
        size = _file_size(f)
        # list first: check_member moves the file position the scanner relies on
        members = list(scan_members(f))
        records = [check_member(f, m) for m in members]
    result = FileCheck(path, records, size)
    if not records:
        log.warning("WARC file %s holds no records", path)
    elif not result.ok:
        bad = result.first_problem
        assert bad is not None
        log.warning("WARC file %s: record at %d: %s", path, bad.offset, "; ".join(bad.problems))
    return result

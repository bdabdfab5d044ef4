"""Turn a stored raw body back into bytes for extraction, without trusting the sender.

The fetcher stores the body exactly as received (de-chunked, still content-encoded), so
the WARC holds what the server sent. Extraction needs the decoded bytes; decoding is
where a gzip bomb lives (one 0.5 MB gzip chunk decoded to 67 MB in a measured case), so
every decompressor here is incremental and bounded: output never exceeds `max_bytes`,
nor `max_ratio` × the compressed size, however the input is shaped.
"""

from __future__ import annotations

import codecs
import logging
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

from archive.records import HttpExchange

logger = logging.getLogger(__name__)

__all__ = [
    "DecodedBody",
    "binary_problem",
    "charset_from_headers",
    "content_encodings",
    "decode_body",
    "supported_encodings",
]

_STEP = 64 * 1024  # the most any single decompress call may produce
_READ = 64 * 1024

try:  # optional decoders; "br" is a declared dependency, zstd only if present
    import brotli as _brotli
except ImportError:  # pragma: no cover
    _brotli = None
try:
    import zstandard as _zstd
except ImportError:
    _zstd = None


@dataclass(frozen=True)
class DecodedBody:
    """Decoded payload bytes. `truncated`: not the whole body. `problem`: why, if anything."""

    data: bytes
    truncated: bool
    problem: str | None = None


class _DecodeProblem(Exception):
    pass


def supported_encodings() -> list[str]:
    """Content-Encodings we can reverse, in Accept-Encoding order."""
    names = ["gzip", "deflate"]
    if _brotli is not None:
        names.append("br")
    if _zstd is not None:
        names.append("zstd")
    return names


HeaderList = Iterable[tuple[str, str]] | Mapping[str, str]


def _header_values(headers: HeaderList, name: str) -> list[str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [v for k, v in items if k.lower() == name]


def content_encodings(headers: HeaderList) -> list[str]:
    """Codings in the order they were applied (`Content-Encoding: gzip, br` → gzip then br)."""
    out: list[str] = []
    for value in _header_values(headers, "content-encoding"):
        out.extend(c.strip().lower() for c in value.split(",") if c.strip())
    return [c for c in out if c != "identity"]


def charset_from_headers(headers: HeaderList) -> str | None:
    """The Content-Type charset, normalised by Python's codec registry; None if absent/unknown."""
    values = _header_values(headers, "content-type")
    if not values:
        return None
    msg = Message()
    msg["content-type"] = values[-1]
    charset = msg.get_param("charset")
    if not isinstance(charset, str) or not charset.strip():
        return None
    try:
        return codecs.lookup(charset.strip().strip("'\"")).name
    except LookupError:
        return None


# --- incremental, bounded decoders: each takes chunks and yields at most _STEP per step ---

Stage = Callable[[Iterable[bytes]], Iterator[bytes]]


def _zlib_stage(wbits: int, name: str) -> Stage:
    def stage(chunks: Iterable[bytes]) -> Iterator[bytes]:
        d = zlib.decompressobj(wbits)
        for chunk in chunks:
            buf = chunk
            while buf:
                try:
                    out = d.decompress(buf, _STEP)
                except zlib.error as exc:
                    raise _DecodeProblem(f"corrupt {name} data: {exc}") from exc
                if out:
                    yield out
                buf = d.unconsumed_tail
                if d.eof:
                    # gzip allows several members back to back; anything else after the
                    # end of a deflate stream is trailing garbage we ignore.
                    rest = d.unused_data
                    if name == "gzip" and rest.strip(b"\x00"):
                        d = zlib.decompressobj(wbits)
                        buf = rest
                    else:
                        buf = b""
        if not d.eof:
            raise _DecodeProblem(f"{name} stream ended early")

    return stage


def _deflate_stage(chunks: Iterable[bytes]) -> Iterator[bytes]:
    # "deflate" is meant to be zlib-wrapped, but servers send raw deflate too (httpx and
    # browsers accept both): sniff the zlib header on the first bytes.
    it = iter(chunks)
    first = next((c for c in it if c), b"")
    wrapped = len(first) >= 2 and (first[0] & 0x0F) == 8 and ((first[0] << 8) | first[1]) % 31 == 0
    stage = _zlib_stage(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS, "deflate")
    yield from stage(_prepend(first, it))


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _brotli_stage(chunks: Iterable[bytes]) -> Iterator[bytes]:
    d: Any = _brotli.Decompressor()
    try:
        for chunk in chunks:
            out = d.process(chunk, output_buffer_limit=_STEP)
            if out:
                yield out
            # Output was capped: drain with empty input until brotli wants more.
            while not d.can_accept_more_data():
                out = d.process(b"", output_buffer_limit=_STEP)
                if out:
                    yield out
                elif d.is_finished():
                    break
    except _brotli.error as exc:
        raise _DecodeProblem(f"corrupt br data: {exc}") from exc
    if not d.is_finished():
        raise _DecodeProblem("br stream ended early")


def _zstd_stage(chunks: Iterable[bytes]) -> Iterator[bytes]:  # pragma: no cover - optional
    import io

    raw = io.BytesIO(b"".join(chunks))  # compressed bytes are already capped by the fetcher
    try:
        reader = _zstd.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        while block := reader.read(_STEP):
            yield block
    except _zstd.ZstdError as exc:
        raise _DecodeProblem(f"corrupt zstd data: {exc}") from exc


def _stage_for(coding: str) -> Stage | None:
    if coding in ("gzip", "x-gzip"):
        return _zlib_stage(16 + zlib.MAX_WBITS, "gzip")
    if coding == "deflate":
        return _deflate_stage
    if coding == "br" and _brotli is not None:
        return _brotli_stage
    if coding == "zstd" and _zstd is not None:
        return _zstd_stage
    return None


def _read_chunks(exchange: HttpExchange) -> Iterator[bytes]:
    exchange.body.seek(0)
    remaining = exchange.body_length
    while remaining > 0:
        block = exchange.body.read(min(_READ, remaining))
        if not block:
            break
        remaining -= len(block)
        yield block


def decode_body(exchange: HttpExchange, *, max_bytes: int, max_ratio: int) -> DecodedBody:
    """Reverse the exchange's Content-Encoding into at most the allowed number of bytes.

    Limit = min(max_bytes, max_ratio × compressed length) for encoded bodies, max_bytes
    for identity. Hitting it stops decoding (truncated=True, with a problem naming the
    cap); a corrupt or cut stream keeps what decoded cleanly and names the problem.
    """
    codings = content_encodings(exchange.response_headers)
    limit = max_bytes
    if codings:
        limit = min(max_bytes, max_ratio * max(exchange.body_length, 1))

    stream: Iterable[bytes] = _read_chunks(exchange)
    # Codings were applied in header order, so undo them last-first; each stage wraps the
    # previous one and pulls lazily, so no stage runs ahead of the final cap.
    for coding in reversed(codings):
        stage = _stage_for(coding)
        if stage is None:
            return DecodedBody(b"", False, f"unsupported content-encoding {coding!r}")
        stream = stage(stream)

    out = bytearray()
    truncated = exchange.truncated
    problem: str | None = "stored body is truncated" if exchange.truncated else None
    try:
        for block in stream:
            room = limit - len(out)
            if len(block) > room:
                out += block[:room]
                truncated = True
                problem = (
                    f"decoded body capped at {limit} bytes "
                    f"(max_bytes={max_bytes}, max_ratio={max_ratio})"
                )
                logger.info("decode cap hit for %s: %s", exchange.url, problem)
                break
            out += block
    except _DecodeProblem as exc:
        truncated = True
        # A cut stream is expected when the fetcher already truncated the body.
        if not exchange.truncated:
            problem = str(exc)
    return DecodedBody(bytes(out), truncated, problem)


# WHATWG MIME sniffing's "binary data bytes": never found in text, whatever its charset.
_BINARY_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)])
_SNIFF = 4096
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def binary_problem(data: bytes, *, max_share: float = 0.05) -> str | None:
    """Why `data` is binary rather than text (whatever its Content-Type says), or None.

    Looks at the first 4 KiB: a NUL byte, or more than `max_share` of control bytes, is
    something no HTML parser should be handed (a gzip bomb's zeros, an image or a
    program served as text/html). UTF-16 with a BOM is text despite its NULs.
    """
    head = data[:_SNIFF]
    if not head or head.startswith(_UTF16_BOMS):
        return None
    if b"\x00" in head:
        return f"binary content: NUL bytes in the first {len(head)} bytes"
    controls = len(head) - len(head.translate(None, _BINARY_BYTES))
    if controls > max_share * len(head):
        return f"binary content: {controls} control bytes in the first {len(head)} bytes"
    return None

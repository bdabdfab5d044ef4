"""A digest file or upload → the plain text the parser reads, or a `DigestInputError`.

One reader for the command line and the web app alike (`sourcevault run digest.docx`
reads what an upload of it reads):

- .txt/.md: UTF-8 (with or without BOM) and UTF-16 with BOM are decoded directly;
  anything else goes to charset detection (Windows-1251 is common in Kazakhstan);
  binary, empty and oversize input is refused with a message naming the problem.
- .docx is read from its XML: Word footnotes become `[n]` markers plus `[n] text` lines,
  like a digest written by hand; hyperlink targets are kept.
- .html becomes text with block elements on their own lines and link targets kept,
  since a footnote's URL is often only in `href`.

A .docx is a zip: a few hundred kilobytes can expand to gigabytes. Every member's
declared size and compression ratio is checked before anything is read, and the parts
we read are read in chunks that stop at the cap (a header can lie). XML is parsed
without entity expansion or network access. The web app runs this in a worker process
with a time limit (`archive.web.parse_pool`), never on its event loop.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from pathlib import Path

from charset_normalizer import from_bytes
from lxml import etree, html

__all__ = [
    "ACCEPTED",
    "MAX_FILE_BYTES",
    "DigestInputError",
    "DigestTooLarge",
    "decode_text",
    "docx_text",
    "html_text",
    "read_digest_bytes",
    "read_digest_file",
]

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 20_000_000


class DigestInputError(ValueError):
    """The digest file cannot be used: binary, empty, too large or undecodable.

    The message is shown to the editor as is."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message if line is None else f"{message} (line {line})")
        self.line = line


class DigestTooLarge(DigestInputError):
    pass


_BINARY_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_MAX_CONTROL_RATIO = 0.05  # text has a few stray control characters at most
_NEWLINE_RE = re.compile(r"\r\n?")

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text", ""}
HTML_SUFFIXES = {".html", ".htm"}
DOCX_SUFFIXES = {".docx"}
ACCEPTED = sorted(TEXT_SUFFIXES | HTML_SUFFIXES | DOCX_SUFFIXES - {""})

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_BLOCK_TAGS = {
    "p", "div", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "section", "article", "table", "ul", "ol", "dd", "dt", "hr",
}  # fmt: skip


# Word's own XML compresses 5-20×; a member that expands more than this is refused.
MAX_MEMBER_BYTES = 32 * 1024 * 1024  # uncompressed, per member
MAX_TOTAL_BYTES = 64 * 1024 * 1024  # uncompressed, every member together
MAX_RATIO = 100  # uncompressed / compressed, for members over RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024
_CHUNK = 1024 * 1024
_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def read_digest_file(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of a digest file on disk, read as its extension says (as an upload)."""
    size = path.stat().st_size
    if size > max_bytes:
        raise DigestTooLarge(f"too large ({size:,} bytes, limit {max_bytes:,})")
    return read_digest_bytes(path.name, path.read_bytes(), max_bytes=max_bytes)


def read_digest_bytes(filename: str | None, data: bytes, *, max_bytes: int) -> str:
    """Text of a digest file's bytes, chosen by its extension."""
    name = Path(filename or "digest.txt").name
    if len(data) > max_bytes:
        raise DigestTooLarge(f"{name} is {len(data):,} bytes; the limit is {max_bytes:,} bytes")
    if not data.strip():
        raise DigestInputError(f"{name} is empty")
    suffix = Path(name).suffix.lower()
    if suffix in DOCX_SUFFIXES:
        text = docx_text(data, name)
    elif suffix in HTML_SUFFIXES:
        text = html_text(decode_text(data, name), name)
    elif suffix in TEXT_SUFFIXES:
        text = decode_text(data, name)
    else:
        raise DigestInputError(
            f"{name}: {suffix} files are not digests we can read; "
            f"upload one of {', '.join(ACCEPTED)}"
        )
    if not text.strip():
        raise DigestInputError(f"{name} has no text")
    return text


def decode_text(data: bytes, name: str = "digest.txt") -> str:
    """Text of a plain-text digest with `\\n` newlines; errors name the problem."""
    if data.startswith(b"PK\x03\x04"):
        raise DigestInputError(f"{name} is a zip or Office file, not text: use .docx for Word")
    if not data.strip():
        raise DigestInputError("empty file")
    text = _decode(data)
    if not text.strip():
        raise DigestInputError("empty file")
    controls = len(_BINARY_CONTROL_RE.findall(text))
    if controls > _MAX_CONTROL_RATIO * len(text):
        raise DigestInputError(f"binary file, not text ({controls} control characters)")
    return _NEWLINE_RE.sub("\n", text.removeprefix("\ufeff"))


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DigestInputError(f"undecodable UTF-16: {exc.reason}") from exc
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise DigestInputError("binary file (NUL byte)", line=line)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = data.count(b"\n", 0, exc.start) + 1
        best = from_bytes(data).best()
        if best is None:
            raise DigestInputError(
                "undecodable: not UTF-8 and no known encoding fits", line=bad_line
            ) from exc
        logger.info("digest is not UTF-8; decoding it as %s", best.encoding)
        return str(best)


def docx_text(data: bytes, name: str = "digest.docx") -> str:
    """Paragraphs of a .docx, with Word footnotes as `[n]` markers and `[n] text` lines."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _check_members(zf, name)
            budget = _Budget(name)
            document = _xml(budget.read(zf, "word/document.xml"))
            notes_xml = (
                budget.read(zf, "word/footnotes.xml")
                if "word/footnotes.xml" in zf.namelist()
                else None
            )
            rels = _docx_links(zf, budget)
    except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError, NotImplementedError) as exc:
        raise DigestInputError(f"{name} is not a readable .docx file ({exc})") from exc
    lines = [_docx_paragraph(p, rels) for p in document.iter(f"{_W}p")]
    if notes_xml is not None:
        for note in _xml(notes_xml).iter(f"{_W}footnote"):
            number = (note.get(f"{_W}id") or "").strip()
            # -1 and 0 are Word's separators; an id that is not a number ("abc") is kept
            # as written, and the parser reports its line
            if not number or (number.lstrip("-").isdigit() and int(number) < 1):
                continue
            body = " ".join(_docx_paragraph(p, rels) for p in note.iter(f"{_W}p")).strip()
            lines.append(f"[{number}] {body}")
    return "\n".join(lines)


def _xml(data: bytes) -> etree._Element:
    return etree.fromstring(data, _XML)


def _check_members(zf: zipfile.ZipFile, name: str) -> None:
    """Refuse a zip bomb from its directory, before reading any member."""
    total = 0
    for info in zf.infolist():
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MAX_MEMBER_BYTES:
            raise DigestTooLarge(
                f"{name}: member {info.filename} expands to {info.file_size:,} bytes "
                f"(from {info.compress_size:,}); the limit is {MAX_MEMBER_BYTES:,} bytes"
            )
        if info.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise DigestTooLarge(
                f"{name}: member {info.filename} expands {ratio:,.0f}-fold "
                f"({info.compress_size:,} → {info.file_size:,} bytes); "
                f"the limit is {MAX_RATIO}-fold: a zip bomb, not a Word document"
            )
    if total > MAX_TOTAL_BYTES:
        raise DigestTooLarge(
            f"{name}: its members expand to {total:,} bytes together; "
            f"the limit is {MAX_TOTAL_BYTES:,} bytes"
        )


class _Budget:
    """Reads members in chunks and stops at the caps, whatever their headers said."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.total = 0

    def read(self, zf: zipfile.ZipFile, member: str) -> bytes:
        info = zf.getinfo(member)
        chunks: list[bytes] = []
        size = 0
        with zf.open(info) as f:
            while chunk := f.read(_CHUNK):
                size += len(chunk)
                self.total += len(chunk)
                if size > MAX_MEMBER_BYTES or self.total > MAX_TOTAL_BYTES:
                    raise DigestTooLarge(
                        f"{self.name}: member {member} expands past {size:,} bytes "
                        f"(declared {info.file_size:,}, compressed {info.compress_size:,}); "
                        f"the limit is {MAX_MEMBER_BYTES:,} bytes"
                    )
                if size > RATIO_FLOOR and size > MAX_RATIO * max(info.compress_size, 1):
                    raise DigestTooLarge(
                        f"{self.name}: member {member} expands past {size:,} bytes from "
                        f"{info.compress_size:,} compressed, more than {MAX_RATIO}-fold"
                    )
                chunks.append(chunk)
        return b"".join(chunks)


def _docx_links(zf: zipfile.ZipFile, budget: _Budget) -> dict[str, str]:
    """Relationship id → URL of the document's hyperlinks."""
    targets: dict[str, str] = {}
    for part in ("word/_rels/document.xml.rels", "word/_rels/footnotes.xml.rels"):
        if part in zf.namelist():
            for rel in _xml(budget.read(zf, part)):
                if rel.get("TargetMode") == "External" and rel.get("Id"):
                    targets[rel.get("Id", "")] = rel.get("Target", "")
    return targets


def _docx_paragraph(p: etree._Element, links: dict[str, str]) -> str:
    parts: list[str] = []
    for el in p.iter():
        if el.tag == f"{_W}t" and el.text:
            parts.append(el.text)
        elif el.tag == f"{_W}tab":
            parts.append("\t")
        elif el.tag == f"{_W}footnoteReference":
            parts.append(f"[{el.get(f'{_W}id')}]")
        elif el.tag == f"{_W}hyperlink":
            target = links.get(
                el.get(
                    "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id", ""
                ),
                "",
            )
            shown = "".join(t.text or "" for t in el.iter(f"{_W}t"))
            if target and target not in shown:
                parts.append(f" {target} ")  # the link text alone would lose the URL
    return "".join(parts).strip()


def html_text(markup: str, name: str = "digest.html") -> str:
    """Visible text of an HTML digest, one block per line, with link targets kept."""
    try:
        root = html.document_fromstring(markup)
    except (etree.ParserError, ValueError) as exc:
        raise DigestInputError(f"{name} is not readable HTML ({exc})") from exc
    for bad in root.xpath("//script|//style|//noscript|//template|//head"):
        bad.drop_tree()
    out: list[str] = []
    _walk(root, out)
    lines = (" ".join(line.split()) for line in "".join(out).split("\n"))
    return "\n".join(line for line in lines if line)


def _walk(el: html.HtmlElement, out: list[str]) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in _BLOCK_TAGS:
        out.append("\n")
    if el.text and tag:
        out.append(el.text)
    for child in el:
        _walk(child, out)
    if tag == "a":
        href = el.get("href", "")
        if href.startswith(("http://", "https://")) and href not in el.text_content():
            out.append(f" {href} ")
    if tag in _BLOCK_TAGS:
        out.append("\n")
    if el.tail:
        out.append(el.tail)

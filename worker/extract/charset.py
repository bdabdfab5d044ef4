"""Stage 1: HTML bytes → text, whatever the page declared or broke (see worker.extract)."""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata

import charset_normalizer

__all__ = ["XML_DECL", "clean_text", "decode_html"]

logger = logging.getLogger(__name__)

_ALIASES = {
    # WHATWG: these labels all mean windows-1252 on the web
    "iso-8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
    "x-cp1251": "windows-1251",
    "win-1251": "windows-1251",
    "cp-1251": "windows-1251",
    "utf8": "utf-8",
    # a <meta> cannot truthfully declare UTF-16 (the bytes would not be ASCII-readable)
    "utf-16": "utf-8",
    "utf-16le": "utf-8",
    "utf-16be": "utf-8",
}
_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""", re.IGNORECASE | re.DOTALL
)
XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _codec(label: str | None) -> str | None:
    """The charset for a label, spelt as the web spells it ("windows-1251"), or None."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # Python says "cp1251"; WARC metadata and browsers say "windows-1251"
    return f"windows-{name[2:]}" if re.fullmatch(r"cp125\d", name) else name


# C0 controls other than tab, newline, form feed and carriage return: lxml refuses a
# string holding one (a single NUL used to lose the whole page), and no text needs them.
_CONTROLS = dict.fromkeys([c for c in range(32) if c not in (9, 10, 12, 13)] + [127])
_ANY_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")  # the same set: translate is slow


def _utf8(data: bytes) -> tuple[str, int, int]:
    """`data` as UTF-8 with bad bytes replaced → (text, replaced, valid non-ASCII letters).

    An incomplete letter at the very end (a body cut by the size cap or a dropped
    connection) is dropped, not replaced: it is a cut, not damage.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(data, final=False)
    replaced = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return text, replaced, non_ascii - replaced


def clean_text(text: str) -> str:
    """No control characters, and NFC: "й" typed as и + U+0306 must match a phrase with "й"."""
    if _ANY_CONTROL.search(text):
        text = text.translate(_CONTROLS)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text


def decode_html(data: bytes, charset: str | None = None) -> tuple[str, str, str]:
    """Decode HTML bytes → (text, codec used, how it was chosen); never fails.

    UTF-8 is decided by the bytes, not the labels: valid multi-byte UTF-8 does not occur
    by chance in single-byte Cyrillic text, so a page that is UTF-8 but for a stray bad
    byte (or a letter cut at the end) stays UTF-8, with the bad byte replaced, instead of
    turning into mojibake as some other charset. Otherwise the declared charset (HTTP
    header, then <meta>), then detection; always with errors replaced, never strict.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            text = data.decode(name, errors="replace").lstrip("\ufeff")
            return clean_text(text), name, "bom"
    declared = [(_codec(charset), "header")]
    match = _META_CHARSET.search(data[:8192])
    declared.append((_codec(match.group(1).decode("ascii")) if match else None, "meta"))
    if data.isascii():
        return (
            clean_text(data.decode("ascii")),
            declared[0][0] or declared[1][0] or "utf-8",
            "ascii",
        )
    text, replaced, letters = _utf8(data)
    if letters > 0 and replaced * 20 <= letters:
        labels = {c for c, _how in declared if c is not None}
        how = "utf-8" if labels <= {"utf-8"} else "utf-8 (declared charset ignored)"
        if replaced:
            how += f" ({replaced} invalid byte{'s' if replaced > 1 else ''} replaced)"
            logger.info("UTF-8 page with %d invalid bytes: replaced", replaced)
        return clean_text(text), "utf-8", how
    for codec, how in declared:
        if codec is not None and codec != "utf-8":
            return clean_text(data.decode(codec, errors="replace")), codec, how
    best = charset_normalizer.from_bytes(data[:262144]).best()
    codec = _codec(best.encoding) if best is not None else None
    if codec is not None and codec != "utf-8":
        return clean_text(data.decode(codec, errors="replace")), codec, "detected"
    return clean_text(text), "utf-8", "fallback"

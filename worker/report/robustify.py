"""The digest written back with its evidence: every footnote a Robust Link.

Robust Links (robustlinks.mementoweb.org) decorate a link with the URL it cites
(`data-originalurl`), a copy of it as it was (`data-versionurl`) and the copy's date
(`data-versiondate`), so a reader can reach the source after it rots. The copy is ours
(the capture's replay URL) or, when we hold none, the other archive's copy the report
chose. A source that is gone (`dead`, `soft_404`, `redirected_away`) links to its copy
first: the original still rides along in `data-originalurl`. Formats without attributes
(Markdown, .docx) carry the same facts as text: "archived copy: URL (date)".

Everything comes from the sealed report, so the document says exactly what the report
(and its custody seal) says.
"""

from __future__ import annotations

import datetime as dt
import html
import io
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from schemas import Report, SourceReport, SourceStatus

__all__ = ["Format", "RobustLink", "links", "render"]

GONE = frozenset({SourceStatus.DEAD, SourceStatus.SOFT_404, SourceStatus.REDIRECTED_AWAY})


class Format(StrEnum):
    HTML = "html"
    MD = "md"
    DOCX = "docx"


@dataclass(frozen=True)
class RobustLink:
    footnote: int
    original: str
    version_url: str | None
    version_date: dt.date | None
    status: SourceStatus | None
    archive: str | None
    """Who holds the copy: "sourcevault", or the other archive's host."""

    @property
    def href(self) -> str:
        """Where a click goes: the copy when the original is gone, else the original."""
        gone = self.status in GONE
        return self.version_url if gone and self.version_url else self.original

    @property
    def fallback_text(self) -> str:
        if not self.version_url:
            return "no archived copy"
        when = f", {self.version_date.isoformat()}" if self.version_date else ""
        return f"archived copy: {self.version_url} ({self.archive}{when})"


def _version(source: SourceReport | None) -> tuple[str | None, dt.date | None, str | None]:
    if source is None:
        return None, None, None
    cap = source.capture
    if cap is not None and cap.replay_url:
        return cap.replay_url, cap.captured_at.date(), "sourcevault"
    chosen = next((f for f in source.fallbacks if f.chosen), None)
    if chosen is not None:
        return chosen.url, chosen.captured_at.date(), chosen.archive
    return None, None, None


def links(report: Report) -> dict[int, list[RobustLink]]:
    """Every footnote's links, in the digest's order."""
    sources = {s.canonical_url: s for s in report.sources}
    out: dict[int, list[RobustLink]] = {}
    seen: set[tuple[int, str]] = set()
    for incident in report.incidents:
        for c in incident.citations:
            if (c.footnote, c.url) in seen:
                continue
            seen.add((c.footnote, c.url))
            source = sources.get(c.canonical_url or "")
            url, day, archive = _version(source)
            out.setdefault(c.footnote, []).append(
                RobustLink(c.footnote, c.url, url, day, source.status if source else None, archive)
            )
    return dict(sorted(out.items()))


def _incidents(report: Report) -> Iterator[tuple[str, list[int]]]:
    for incident in report.incidents:
        yield incident.text, incident.footnotes


def render(report: Report, fmt: Format) -> bytes:
    """The digest as `fmt`, each footnote a Robust Link (UTF-8 text, or .docx bytes)."""
    found = links(report)
    if fmt is Format.HTML:
        return _html(report, found).encode("utf-8")
    if fmt is Format.MD:
        return _markdown(report, found).encode("utf-8")
    return _docx(report, found)


def _a(link: RobustLink) -> str:
    attrs = {"href": link.href, "data-originalurl": link.original}
    if link.version_url:
        attrs["data-versionurl"] = link.version_url
    if link.version_date:
        attrs["data-versiondate"] = link.version_date.isoformat()
    rendered = " ".join(f'{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
    return f"<a {rendered}>{html.escape(link.original)}</a>"


def _html(report: Report, found: dict[int, list[RobustLink]]) -> str:
    title = html.escape(report.digest.title)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title></head><body>",
        f"<h1>{title}</h1>",
    ]
    for text, notes in _incidents(report):
        refs = "".join(f'<sup><a href="#fn-{n}">[{n}]</a></sup>' for n in notes)
        parts.append(f"<p>{html.escape(text)}{refs}</p>")
    parts.append('<ol class="footnotes">')
    for number, items in found.items():
        body = "<br>".join(_a(link) for link in items)
        parts.append(f'<li id="fn-{number}" value="{number}">{body}</li>')
    parts.append("</ol></body></html>")
    return "\n".join(parts) + "\n"


def _markdown(report: Report, found: dict[int, list[RobustLink]]) -> str:
    lines = [f"# {report.digest.title}", ""]
    for text, notes in _incidents(report):
        lines += [text + "".join(f"[^{n}]" for n in notes), ""]
    for number, items in found.items():
        cells = [
            f"<{link.href}> (cited: <{link.original}>; {link.fallback_text})" for link in items
        ]
        lines.append(f"[^{number}]: " + " · ".join(cells))
    return "\n".join(lines) + "\n"


def _docx(report: Report, found: dict[int, list[RobustLink]]) -> bytes:
    from docx import Document  # python-docx, only for this format

    doc = Document()
    doc.add_heading(report.digest.title, level=1)
    for text, notes in _incidents(report):
        doc.add_paragraph(text + "".join(f"[{n}]" for n in notes))
    doc.add_heading("Sources", level=2)
    for number, items in found.items():
        for link in items:
            para = doc.add_paragraph(f"[{number}] ")
            _hyperlink(para, link.href, link.original)
            para.add_run(f" — {link.fallback_text}")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _hyperlink(paragraph: object, url: str, text: str) -> None:
    """A real hyperlink run (python-docx has no public API for one)."""
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    part = paragraph.part  # type: ignore[attr-defined]
    rel = part.relate_to(url, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), rel)
    run = OxmlElement("w:r")
    props = OxmlElement("w:rPr")
    style = OxmlElement("w:rStyle")
    style.set(qn("w:val"), "Hyperlink")
    props.append(style)
    run.append(props)
    node = OxmlElement("w:t")
    node.text = text
    run.append(node)
    link.append(run)
    paragraph._p.append(link)  # type: ignore[attr-defined]

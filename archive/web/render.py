"""Render a schemas.Report as one self-contained HTML page (no CDN, works offline, prints)."""

from __future__ import annotations

from collections import Counter

from jinja2 import Environment, PackageLoader, select_autoescape

from schemas import Report, SourceStatus

_env = Environment(
    loader=PackageLoader("archive.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

STATUS_COLOURS = {
    "ok": "#2e7d32",
    "dead": "#b71c1c",
    "soft_404": "#d84315",
    "redirected_away": "#ef6c00",
    "login_wall": "#6a1b9a",
    "blocked": "#4527a0",
    "unreachable": "#616161",
    "not_public": "#37474f",
    "invalid": "#795548",
    "refused": "#880e4f",
}


def render_html(report: Report) -> str:
    sources = {s.canonical_url: s for s in report.sources}
    status_counts = Counter(s.status.value for s in report.sources)
    verdict_counts = Counter(i.verdict.value for i in report.incidents)
    total = max(len(report.sources), 1)
    return _env.get_template("report.html").render(
        report=report,
        sources=sources,
        status_counts=sorted(status_counts.items(), key=lambda kv: -kv[1]),
        verdict_counts=sorted(verdict_counts.items()),
        total_sources=total,
        colours=STATUS_COLOURS,
        # every status that occurs, in DESIGN order, for the status filter
        all_statuses=[st.value for st in SourceStatus if st.value in status_counts],
    )

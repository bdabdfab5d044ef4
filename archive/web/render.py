"""Render a schemas.Report as one self-contained HTML page (no CDN, works offline, prints).

A report is made of attacker-controlled text (footnote URLs, page titles, archived
pages' metadata), and the stand-alone file is opened from disk with no server to send a
Content-Security-Policy header. So the page carries its own policy in a `<meta>` tag (the
one filter script allowed by its hash, nothing else), and a URL becomes a link only when
`is_safe_href` says so: `javascript:`, `data:` and every other scheme stay plain text.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from schemas import Report, SourceStatus
from worker.judge.statuses import COLOURS

_env = Environment(
    loader=PackageLoader("archive.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    # package files, fixed for the life of the process: an include in the per-source loop
    # otherwise stats its file every time (0.09 s of a 1,000-source report)
    auto_reload=False,
)


# str.isspace's characters (re's \s is the same test) and the C0 controls: one scan in C,
# not a Python loop per character (a report renders thousands of links)
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f]")


def is_safe_href(url: object) -> bool:
    """A URL that may go in an href: absolute http(s), or a path on the report's own host.

    Browsers drop leading spaces and control characters and ignore tabs and newlines
    inside a scheme, so anything with those is refused rather than normalised here.
    """
    if not isinstance(url, str) or not url or _SPACE_OR_CONTROL.search(url):
        return False
    lowered = url[:8].lower()
    return lowered.startswith(("http://", "https://")) or url.startswith("/")


def install_link_checks(env: Environment) -> None:
    """Register the `safe_href` test on a Jinja environment (this one and the web app's)."""
    env.tests["safe_href"] = is_safe_href


install_link_checks(_env)

# The report's only script, kept in its own file so its hash is known before rendering.
FILTER_JS = _env.get_template("_report_filter.js").render()
_FILTER_HASH = base64.b64encode(hashlib.sha256(FILTER_JS.encode()).digest()).decode()
# frame-ancestors has no effect in a <meta> policy; the web app sends it as a header.
REPORT_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{_FILTER_HASH}'; form-action 'none'; base-uri 'none'"
)

STATUS_COLOURS = COLOURS  # worker.judge.statuses: one table of what each status means


def render_html(report: Report) -> str:
    sources = {s.canonical_url: s for s in report.sources}
    status_counts = Counter(s.status.value for s in report.sources)
    verdict_counts = Counter(i.verdict.value for i in report.incidents)
    total = max(len(report.sources), 1)
    return _env.get_template("report.html").render(
        report=report,
        csp=REPORT_CSP,
        filter_js=Markup(FILTER_JS),  # our own file, not report data
        sources=sources,
        status_counts=sorted(status_counts.items(), key=lambda kv: -kv[1]),
        verdict_counts=sorted(verdict_counts.items()),
        total_sources=total,
        colours=STATUS_COLOURS,
        # every status that occurs, in DESIGN order, for the status filter
        all_statuses=[st.value for st in SourceStatus if st.value in status_counts],
    )

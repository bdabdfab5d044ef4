"""Extraction bench (issue #14): the project's extractor beside plain trafilatura and htmldate.

    uv run python -m bench.extraction                      # every labelled page, table on stdout
    uv run python -m bench.extraction --json out.json      # and every page's raw results
    uv run python -m bench.extraction --limit 40           # 40 pages, round-robin over classes

Pages: `bench.extraction_pages` (self-written, labelled, in memory). Contenders, each
given the page's bytes and URL:

- **sourcevault**: `worker.extract.page.extract(html, url=url, charset=charset,
  options=ExtractOptions())` (the only one told the HTTP header's charset, as a capture is);
- **trafilatura + htmldate**: `trafilatura.extract(html, url=url)` (default settings) and
  `htmldate.find_date(html, original_date=True, url=url)` (extensive search, its default);
- **trafilatura precision + htmldate fast**: `trafilatura.extract(..., favor_precision=True)`
  and `find_date(..., extensive_search=False)`.

Figures per contender, per class and overall: exact publication day (against the label;
None is wrong), text F1 (bag of words: lowercased `\\w+` tokens after NFC, as trafilatura's
own evaluation counts them; a failure is an empty text), pages lost (< 50 characters or an
ExtractionFailure where another contender returned >= 50), median CPU ms per page
(`time.process_time` around the calls: text + date for the plain libraries together).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import trafilatura
from htmldate import find_date

from bench.extraction_pages import CLASSES, Page, build_pages
from worker.extract.page import ExtractedPage, ExtractOptions, extract

__all__ = ["CONTENDERS", "FIGURES", "main", "render", "run", "select", "summarize", "token_f1"]

PROJECT = "sourcevault"
PLAIN = "trafilatura + htmldate"
PRECISION = "trafilatura precision + htmldate fast"
CONTENDERS = (PROJECT, PLAIN, PRECISION)
FIGURES = ("day_accuracy", "text_f1", "lost", "cpu_ms_median")
MIN_CHARS = 50
_WORD = re.compile(r"\w+")


# ----------------------------------------------------------------------------- scoring


def tokens(text: str) -> Counter[str]:
    return Counter(_WORD.findall(unicodedata.normalize("NFC", text).lower()))


def token_f1(predicted: str, gold: str) -> float:
    """Bag-of-words F1 of the predicted text's tokens against the label's."""
    p, g = tokens(predicted), tokens(gold)
    common = sum((p & g).values())
    if not common:
        return 0.0
    precision, recall = common / sum(p.values()), common / sum(g.values())
    return 2 * precision * recall / (precision + recall)


# ---------------------------------------------------------------------------- contenders


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.process_time()
    try:
        value = call()
    except Exception as exc:  # a library bug is a wrong answer, not a crashed bench
        value = exc
    return value, (time.process_time() - start) * 1000


def _day(value: object) -> str | None:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value[:10] if isinstance(value, str) and value else None


def run_project(page: Page) -> dict[str, Any]:
    result, ms = _timed(
        lambda: extract(page.html, url=page.url, charset=page.charset, options=ExtractOptions())
    )
    if isinstance(result, Exception):
        return {"published": None, "text": "", "failure": f"raised {result!r}", "ms": ms}
    ok = isinstance(result, ExtractedPage)
    return {
        "published": _day(result.published),
        "text": result.text if ok else "",
        "failure": None if ok else result.reason,
        "date_source": result.date_source,
        "date_choice": result.date_choice,
        "ms": ms,
    }


def run_plain(page: Page, *, precision: bool) -> dict[str, Any]:
    text, text_ms = _timed(
        lambda: trafilatura.extract(page.html, url=page.url, favor_precision=precision)
    )
    day, day_ms = _timed(
        lambda: find_date(
            page.html, original_date=True, url=page.url, extensive_search=not precision
        )
    )
    return {
        "published": _day(day),
        "text": text if isinstance(text, str) else "",
        "failure": f"raised {text!r}" if isinstance(text, Exception) else None,
        "ms": text_ms + day_ms,
    }


def run_page(page: Page) -> dict[str, Any]:
    """One page through every contender: its labels, and each contender's answers."""
    answers = {
        PROJECT: run_project(page),
        PLAIN: run_plain(page, precision=False),
        PRECISION: run_plain(page, precision=True),
    }
    short = {
        name: a["failure"] is not None or len(a["text"].strip()) < MIN_CHARS
        for name, a in answers.items()
    }
    row: dict[str, Any] = page.meta()
    label_text = row.pop("text")
    row["contenders"] = {}
    for name, a in answers.items():
        text = a.pop("text")
        row["contenders"][name] = {
            **a,
            "day_ok": a["published"] == page.published,
            "chars": len(text),
            "f1": round(token_f1(text, label_text), 4),
            "lost": short[name] and any(not short[o] for o in answers if o != name),
            "excerpt": text[:200],
        }
    return row


def select(pages: Sequence[Page], limit: int | None) -> list[Page]:
    """`limit` pages taken round-robin over the classes (all of them without a limit)."""
    if not limit or limit >= len(pages):
        return list(pages)
    by_class = {c: [p for p in pages if p.cls == c] for c in CLASSES}
    out: list[Page] = []
    k = 0
    while len(out) < limit:
        for c in CLASSES:
            if k < len(by_class[c]) and len(out) < limit:
                out.append(by_class[c][k])
        k += 1
    return out


def run(pages: Iterable[Page], progress: bool = False) -> list[dict[str, Any]]:
    pages = list(pages)
    # first calls load models and caches (dateparser's languages, trafilatura's): one page
    # of each class first, untimed
    for cls in CLASSES:
        warm = next((p for p in pages if p.cls == cls), None)
        if warm is not None:
            run_page(warm)
    rows = []
    for n, page in enumerate(pages, 1):
        rows.append(run_page(page))
        if progress and n % 25 == 0:
            print(f"  {n}/{len(pages)} pages", file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------------------- summary


def _figures(rows: list[dict[str, Any]], name: str) -> dict[str, float | int]:
    answers = [r["contenders"][name] for r in rows]
    return {
        "pages": len(answers),
        "day_accuracy": round(sum(a["day_ok"] for a in answers) / len(answers), 4),
        "text_f1": round(statistics.fmean(a["f1"] for a in answers), 4),
        "lost": sum(a["lost"] for a in answers),
        "cpu_ms_median": round(statistics.median(a["ms"] for a in answers), 2),
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float | int]]]:
    """{contender: {class or "all": {pages, day_accuracy, text_f1, lost, cpu_ms_median}}}."""
    classes = [c for c in CLASSES if any(r["class"] == c for r in rows)]
    return {
        name: {
            **{c: _figures([r for r in rows if r["class"] == c], name) for c in classes},
            "all": _figures(rows, name),
        }
        for name in CONTENDERS
    }


_TITLES = {
    "day_accuracy": "Publication day, exact (% of pages; None is wrong)",
    "text_f1": "Article text, bag-of-words token F1 (mean)",
    "lost": "Pages lost (< 50 characters or a failure where another contender found >= 50)",
    "cpu_ms_median": "CPU ms per page (median; text + date)",
}


def _cell(figure: str, value: float | int) -> str:
    if figure == "day_accuracy":
        return f"{value * 100:.1f}"
    if figure == "text_f1":
        return f"{value:.3f}"
    if figure == "lost":
        return str(value)
    return f"{value:.1f}"


def render(summary: dict[str, dict[str, dict[str, float | int]]]) -> str:
    """Markdown: one table per figure, a row per class (and "all"), a column per contender."""
    classes = list(summary[PROJECT])
    lines: list[str] = []
    for figure in FIGURES:
        lines += [f"**{_TITLES[figure]}**", ""]
        lines.append("| class | pages | " + " | ".join(CONTENDERS) + " |")
        lines.append("|---|---:|" + "---:|" * len(CONTENDERS))
        for c in classes:
            cells = [_cell(figure, summary[n][c][figure]) for n in CONTENDERS]
            name = f"**{c}**" if c == "all" else c
            lines.append(f"| {name} | {summary[PROJECT][c]['pages']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}, trafilatura {trafilatura.__version__}, load average "
        f"{os.getloadavg()[0]:.1f}"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write every page's raw results here")
    parser.add_argument("--limit", type=int, default=None, help="pages, round-robin over classes")
    args = parser.parse_args(argv)
    for name in ("trafilatura", "htmldate", "worker.extract.page", "charset_normalizer"):
        logging.getLogger(name).setLevel(logging.CRITICAL)

    wall, cpu = time.perf_counter(), time.process_time()
    pages = select(build_pages(), args.limit)
    rows = run(pages, progress=args.limit is None)
    summary = summarize(rows)
    seconds, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    counts = Counter(p.cls for p in pages)
    head = (
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}: {len(pages)} pages "
        f"({', '.join(f'{c} {counts[c]}' for c in CLASSES if counts[c])}; "
        f"{sum(p.lang == 'kk' for p in pages)} Kazakh), {seconds:.1f} s wall, "
        f"{cpu_s:.1f} s CPU (one process, page generation included)."
    )
    print(head + "\n\n" + render(summary))
    report = {"when": head, "seconds": round(seconds, 2), "summary": summary, "pages": rows}
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return report


if __name__ == "__main__":
    main()

"""The verification truth table: every link status, date and names case, judged right.

Each row of `tests.fixtureweb.verification_pages.CASES` is a footnote URL cited by one
incident. All of them go through the real pipeline (`worker.capture.pipeline.capture_one` with a
runtime from `build_runtime`, through the fixture web's proxy), then `build_report` judges
each citation. The test prints the accuracy per check (status, date, names) and requires
100%. A name that does not resolve (dead only when the resolver works; unreachable when
the network is down) is checked through `worker.fetch.fetcher` + `verify.evidence_for` with a
stub resolver, so no real name is ever looked up.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from warcio.archiveiterator import ArchiveIterator

from schemas import (
    Digest,
    Evidence,
    Footnote,
    FootnoteURL,
    Incident,
    NamesVerdict,
    Report,
    Source,
    SourceStatus,
    Verdict,
)
from tests.fixtureweb import FixtureWeb, route_through, start_fixture_web
from tests.fixtureweb.verification_pages import CASES, Case, install_verification
from worker.capture import pipeline
from worker.fetch.egress import EgressPolicy
from worker.fetch.fetcher import FetchLimits, fetch
from worker.judge import network as netcheck
from worker.judge.evidence import evidence_for
from worker.judge.statuses import FETCHED
from worker.report.build import build_report
from worker.runtime import Runtime, build_runtime
from worker.settings import load_settings
from worker.store import jobs
from worker.store.models import CaptureJob, EvidenceRow

pytestmark = pytest.mark.integration

RUN_ID = "verification-truth-table"


def canonical(url: str) -> str:
    return url.split("#", 1)[0]


def build_digest() -> Digest:
    """One incident per case (footnote n cites case n), plus one incident with no footnote."""
    incidents: list[Incident] = []
    footnotes: list[Footnote] = []
    sources: dict[str, Source] = {}
    for n, case in enumerate(CASES, start=1):
        inc = case.incident
        incidents.append(
            Incident(
                id=n,
                line=n,
                date=inc.date,
                dates_mentioned=list(inc.mentioned),
                text=inc.text or f"{case.name}: {', '.join(inc.people)}",
                footnotes=[n],
                people=list(inc.people),
            )
        )
        url = canonical(case.url)
        footnotes.append(Footnote(number=n, line=100 + n, urls=[FootnoteURL(url=case.url,
                                  canonical_url=url, line=100 + n)]))  # fmt: skip
        if url in sources:
            sources[url].footnotes.append(n)
        else:
            sources[url] = Source(id=len(sources) + 1, url=url, canonical_url=url, footnotes=[n])
    unsourced = len(CASES) + 1
    incidents.append(
        Incident(
            id=unsourced, line=unsourced, date=dt.date(2021, 9, 3), text="no footnote", footnotes=[]
        )
    )
    return Digest(
        id=RUN_ID,
        title="Verification truth table",
        year=2021,
        incidents=incidents,
        footnotes=footnotes,
        sources=list(sources.values()),
    )


@dataclass
class Judged:
    report: Report
    evidence: dict[str, Evidence]
    runtime: Runtime
    web: FixtureWeb
    outcomes: list[pipeline.Outcome]


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Judged]:
    web = install_verification(start_fixture_web(None))
    mp = pytest.MonkeyPatch()
    route_through(mp, web)
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("verification"),
        retries=1,  # one retry: 429 → Retry-After → 200 is judged ok, 5xx twice unreachable
        retry_backoff=0.01,
        total_timeout=2,  # the black-holed CONNECT ends here
        per_host_delay=0.0,
    )
    runtime = build_runtime(settings)
    try:
        digest = build_digest()
        with runtime.sessions() as session:
            jobs.create_run(session, RUN_ID, digest)
            job_ids = [j.id for j in session.query(CaptureJob).filter_by(run_id=RUN_ID)]
        with ThreadPoolExecutor(max_workers=4) as pool:  # as a threads worker would
            outcomes = list(
                pool.map(lambda j: pipeline.capture_one(runtime, RUN_ID, j, task_id=None), job_ids)
            )
        with runtime.sessions() as session:
            report = build_report(session, RUN_ID)
            evidence = {
                job.canonical_url: Evidence.model_validate(row.data)
                for job, row in session.query(CaptureJob, EvidenceRow).filter(
                    EvidenceRow.job_id == CaptureJob.id, CaptureJob.run_id == RUN_ID
                )
            }
        yield Judged(report, evidence, runtime, web, outcomes)
    finally:
        runtime.close()
        mp.undo()
        web.stop()


def test_every_capture_finished(judged: Judged) -> None:
    failed = [o for o in judged.outcomes if o.status == "failed"]
    assert not failed, failed


def _accuracy(rows: list[tuple[Case, str, str]]) -> tuple[float, list[str]]:
    wrong = [f"{c.name}: expected {want}, got {got}" for c, want, got in rows if want != got]
    return 100.0 * (len(rows) - len(wrong)) / len(rows), wrong


def test_truth_table_is_judged_right(judged: Judged) -> None:
    incidents = {i.id: i for i in judged.report.incidents}
    status_rows, date_rows, names_rows = [], [], []
    for n, case in enumerate(CASES, start=1):
        (citation,) = incidents[n].citations
        status_rows.append((case, case.status, citation.status.value))
        date_rows.append((case, case.date, citation.date_check.verdict.value))
        names_rows.append((case, case.names, citation.names_check.verdict.value))
    lines, failures = [], []
    for check, rows in (("status", status_rows), ("date", date_rows), ("names", names_rows)):
        accuracy, wrong = _accuracy(rows)
        covered = sorted({want for _c, want, _g in rows})
        lines.append(f"{check:>6}: {accuracy:5.1f}% of {len(rows)} ({', '.join(covered)})")
        failures += [f"{check} {w}" for w in wrong]
    print("\nverification accuracy per check\n" + "\n".join(lines))
    assert not failures, "\n".join(failures)


def test_table_covers_every_status_and_verdict() -> None:
    fetched = {s.value for s in FETCHED}  # never-fetched ones: the parser, or our own failure
    # censored needs a second network path: tests/integration/test_vantages.py plays one
    assert {c.status for c in CASES} == fetched - {"censored"}
    assert {c.date for c in CASES} >= {"consistent", "predates", "late", "no_date", "not_checked"}
    assert {c.names for c in CASES} >= {"supports", "partial", "absent", "not_checked"}


def test_no_dead_verdict_for_a_source_that_answers(judged: Judged) -> None:
    for url, ev in judged.evidence.items():
        if ev.status is SourceStatus.DEAD:
            assert ev.http_status in (404, 410), (url, ev.http_status, ev.reason)
        answered = ev.http_status is not None and ev.http_status not in (404, 410)
        if answered:
            assert ev.status is not SourceStatus.DEAD, (url, ev)
    assert any(ev.status is SourceStatus.DEAD for ev in judged.evidence.values())


def test_evidence_names_the_phrase_probe_or_code(judged: Judged) -> None:
    missing = [c.name for c in CASES if canonical(c.url) not in judged.evidence]
    assert not missing, f"no evidence stored for {missing}"
    ev = {c.name: judged.evidence[canonical(c.url)] for c in CASES}
    assert ev["soft404_rferl_200"].rule == "soft_404_phrase"
    assert "страница не найдена" in ev["soft404_rferl_200"].reason
    assert "бет табылмады" in ev["soft404_kazakh"].reason
    assert "ничего не найдено" in ev["soft404_wordpress"].reason
    probe = ev["soft404_catchall_home"].probe
    assert ev["soft404_catchall_home"].rule == "soft_404_probe"
    assert probe is not None and probe.similar and probe.probe_status == 200
    assert "sv-probe-" in probe.probe_url and probe.probe_url in ev["soft404_catchall_home"].reason
    real = ev["catchall_real_article"].probe
    assert real is not None and not real.similar and real.score < real.threshold
    assert ev["passing_phrase_is_ok"].rule == "ok"
    assert ev["login_vk_form"].rule == "login_form"
    assert ev["blocked_challenge_200"].rule == "anti_bot_page"
    assert "just a moment" in ev["blocked_challenge_200"].reason
    assert ev["redirect_section"].rule == "redirected_to_section"
    assert ev["redirect_search"].rule == "redirected_to_search"
    assert ev["redirect_home"].rule == "redirected_to_root"
    assert ev["blocked_429_forever"].reason == "HTTP 429"
    # which date signal decided: structured data beats teasers; text dates in ru and kk
    assert ev["ok_ru_gzip_teasers"].date_source == "json-ld:datePublished"
    assert ev["late"].date_source is not None and ev["late"].date_source.startswith("time:")
    assert ev["ok_windows1251_text_date"].date_source == "text:lead"
    assert ev["ok_kazakh_text_date"].date_source == "text:lead"
    assert ev["ok_kazakh_text_date"].language == "kk"
    # a 200 page on a host whose unknown paths 404: the probe ran, and did not match
    ok_probe = ev["ok_ru_gzip_teasers"].probe
    assert ok_probe is not None and ok_probe.probe_status == 404 and not ok_probe.similar


def test_probe_is_sent_once_per_host_and_never_archived(judged: Judged) -> None:
    # catchall.test has two `ok`-looking pages: one probe between them
    assert len(judged.web.hits("catchall.test", "/news/sv-probe-")) == 1
    assert len(judged.web.hits("ru-news.test", "/a/sv-probe-")) == 1
    uris = []
    for path in judged.runtime.settings.archive_dir.glob("*.warc.gz*"):
        with path.open("rb") as stream:
            uris += [
                r.rec_headers.get_header("WARC-Target-URI") or "" for r in ArchiveIterator(stream)
            ]
    assert uris and not any("sv-probe-" in u for u in uris)


def test_retry_after_is_honoured_then_ok(judged: Judged) -> None:
    hits = judged.web.hits("shield.test", "/flaky")
    assert len(hits) == 2  # the 429, then the retry that got the page
    assert len(judged.web.hits("shield.test", "/busy")) == 2  # 429 twice: blocked


def test_incident_verdicts(judged: Judged) -> None:
    by_name = {c.name: n for n, c in enumerate(CASES, start=1)}
    incidents = {i.id: i for i in judged.report.incidents}

    def verdict(name: str) -> Verdict:
        return incidents[by_name[name]].verdict

    assert verdict("ok_ru_gzip_teasers") is Verdict.VERIFIED
    assert verdict("ok_kazakh_text_date") is Verdict.VERIFIED
    assert verdict("late") is Verdict.NEEDS_REVIEW
    assert verdict("names_partial") is Verdict.NEEDS_REVIEW
    assert verdict("old_mention_capped") is Verdict.NEEDS_REVIEW
    assert verdict("dead_404") is Verdict.BROKEN
    assert verdict("soft404_catchall_home") is Verdict.BROKEN
    assert verdict("blocked_challenge_403") is Verdict.NEEDS_REVIEW  # blocked ≠ gone
    assert incidents[len(CASES) + 1].verdict is Verdict.UNSOURCED
    reasons = incidents[by_name["late"]].reasons
    assert any("date late" in r for r in reasons), reasons
    rule = incidents[by_name["old_mention_capped"]].citations[0].date_check.rule
    assert "2018-03-05" in rule and "ignored" in rule


def _nx_resolver(host: str, port: int) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, f"{host}: Name or service not known")


def test_nxdomain_is_dead_unless_the_network_is_down() -> None:
    """A working resolver says the name does not exist → dead; nothing answered → unreachable."""
    policy = EgressPolicy(resolver=_nx_resolver, proxied=False)
    limits = FetchLimits(max_body_bytes=1024, total_timeout=2, max_redirects=3)
    never = httpx.MockTransport(lambda r: pytest.fail("connected"))
    with (
        httpx.Client(transport=never) as c,
        fetch("https://gone-forever.test/a/1.html", c, limits, policy=policy) as result,
    ):
        ev = evidence_for(result, None)
    assert ev.status is SourceStatus.DEAD and ev.rule == "name_not_resolved"
    # the same failure for every source of a run is our network, not the links
    assert netcheck.network_unavailable([ev, ev])
    down = netcheck.downgrade(ev)
    assert down.status is SourceStatus.UNREACHABLE and "network unavailable" in down.reason
    # one source that answered proves the network works: the dead verdict stands
    answered = Evidence(status=SourceStatus.OK, reason="HTTP 200", http_status=200)
    assert not netcheck.network_unavailable([ev, answered])


def test_name_checks_on_the_extraction_processes_match_the_in_thread_ones(judged: Judged) -> None:
    # finalize hands the report's name checks to the worker's extraction processes; the
    # verdicts, matches and passages must be exactly those of the in-thread path
    from worker.pool import ProcessExtractor

    pool = ProcessExtractor(1)
    try:
        with judged.runtime.sessions() as session:
            pooled = build_report(session, RUN_ID, pool=pool)
    finally:
        pool.close()
    checked = [c for i in judged.report.incidents for c in i.citations]
    assert any(c.names_check.verdict != NamesVerdict.NOT_CHECKED for c in checked)
    for mine, theirs in zip(judged.report.incidents, pooled.incidents, strict=True):
        assert [c.names_check for c in mine.citations] == [c.names_check for c in theirs.citations]
        assert mine.verdict == theirs.verdict

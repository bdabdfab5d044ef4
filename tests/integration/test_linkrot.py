"""The link-rot watch end to end, through the fixture web and the real pipeline:
pages that change and die over a simulated calendar, hysteresis, history, drift diffs,
a Wayback fallback from the local fake archives, and login profiles that expire."""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.warc_reader import check_file
from archive.web.render import render_html
from schemas import HealthState, ProblemCode, SourceStatus
from tests.fixtureweb import FixtureWeb
from tests.fixtureweb.archives_fake import ArchivesFake
from tests.integration.linkrot_world import HOST, World, article, capture_digest, login_gate
from worker.capture import recheck
from worker.report.build import build_report
from worker.runtime import Runtime, build_runtime
from worker.settings import load_settings

pytestmark = pytest.mark.integration

DIGEST = f"""Linkrot watch test digest
On September 2, in Nur-Sultan, Askar Kayirbek was kept in detention by the appeal board.[1]
On September 6, in Aktobe, Asylkhan Zhaubatyrov was sentenced to restriction of liberty.[2]
On September 10, in Almaty, Sanavar Zakirova lost a lawsuit against the government.[3]
On September 13, in Otrar, Syzdykbek Sabit was heard by the appeal court.[4]
[1]https://{HOST}/a/drift.html
[2]https://{HOST}/a/doomed.html
[3]https://{HOST}/a/flaky.html
[4]https://{HOST}/a/gone.html
"""
DRIFT = f"https://{HOST}/a/drift.html"
DOOMED = f"https://{HOST}/a/doomed.html"
FLAKY = f"https://{HOST}/a/flaky.html"
GONE = f"https://{HOST}/a/gone.html"

DRIFT_BEFORE = [
    "Апелляционная коллегия продлила срок содержания под стражей Аскара Кайырбека "
    "до двух лет и двух месяцев.",
    "Защита заявила, что обжалует решение в кассационной инстанции.",
    "Сам Кайырбек назвал дело политическим и отказался от последнего слова.",
]
DRIFT_AFTER = [
    "Апелляционная коллегия рассмотрела дело журналиста.",
    "Редакция удалила подробности по требованию суда.",
]


@pytest.fixture
def runtime(fixture_web_env: FixtureWeb, tmp_path: Path) -> Iterator[Runtime]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        retries=0,
        per_host_delay=0.0,
        total_timeout=10,
        cookie_profiles=tmp_path / "profiles",
    )
    (tmp_path / "profiles").mkdir()
    rt = build_runtime(settings)
    try:
        yield rt
    finally:
        rt.close()


def _world(fw: FixtureWeb) -> World:
    world = World().install(fw)
    world.pages["/a/drift.html"] = (200, article("Кайырбек остаётся под стражей", DRIFT_BEFORE))
    world.pages["/a/doomed.html"] = (
        200,
        article(
            "Жаубатырову назначили ограничение свободы",
            [
                "Суд в Актобе приговорил активиста Асылхана Жаубатырова к одному году "
                "ограничения свободы по статье 405 части 2 Уголовного кодекса."
            ],
        ),
    )
    world.pages["/a/flaky.html"] = (
        200,
        article(
            "Закирова проиграла иск",
            [
                "Административный суд Нур-Султана отказал Санавар Закировой в иске "
                "к правительству Казахстана о признании действий премьер-министра незаконными."
            ],
        ),
    )
    return world


def test_pages_that_change_and_die_over_a_simulated_calendar(
    runtime: Runtime, fixture_web_env: FixtureWeb
) -> None:
    world = _world(fixture_web_env)
    fake = ArchivesFake()
    fake.add(DOOMED, "20210905080000")  # before the incident (Sep 6): a candidate
    fake.add(DOOMED, "20210906120000")  # closest 200 before the incident's end of day
    fake.add(DOOMED, "20210906150000", status=404)  # closer, but a 404: never chosen
    fake.add(DOOMED, "20211001000000")  # after
    fake.add(DOOMED, "20210908000000", archive="archive.ph")  # another archive, after only
    fake.install(fixture_web_env)

    run_id = capture_digest(runtime, DIGEST)
    day0 = runtime.clock()

    def day(n: float) -> dt.datetime:
        return day0 + dt.timedelta(days=n)

    # The report shows a source that failed its first capture as suspect at once.
    with runtime.sessions() as session:
        report = build_report(session, run_id)
    gone = next(s for s in report.sources if s.canonical_url == GONE)
    assert gone.status is SourceStatus.DEAD
    assert gone.health is not None and gone.health.state is HealthState.SUSPECT
    assert [c.status for c in gone.health.history] == [SourceStatus.DEAD]

    # Day 1: doomed and flaky break; drift is unchanged.
    del world.pages["/a/doomed.html"]
    world.pages["/a/flaky.html"] = (503, "")
    r = {res.canonical_url: res for res in recheck.recheck_run(runtime, run_id, now=day(1))}
    assert r[DOOMED].state is HealthState.SUSPECT and r[DOOMED].counted
    assert r[FLAKY].state is HealthState.SUSPECT and r[FLAKY].status is SourceStatus.UNREACHABLE
    assert r[DRIFT].state is HealthState.HEALTHY and r[DRIFT].similarity == 100.0
    assert not r[DRIFT].changed and not r[DRIFT].captured
    # Day 2: a second failure one day later is recorded, not counted.
    assert not recheck.recheck_source(runtime, DOOMED, now=day(2)).counted
    # Day 4 (3 days after the first counted one): counted; flaky fails again, counted.
    assert recheck.recheck_source(runtime, DOOMED, now=day(4)).state is HealthState.SUSPECT
    assert recheck.recheck_source(runtime, FLAKY, now=day(4)).counted
    # Day 5: flaky comes back; any success resets.
    world.pages["/a/flaky.html"] = (200, world.pages["/a/drift.html"][1].replace("Кайырбек", "К."))
    assert recheck.recheck_source(runtime, FLAKY, now=day(5)).state is HealthState.HEALTHY
    # Day 7: the third counted failure of doomed, three days after the second: dead.
    assert recheck.recheck_source(runtime, DOOMED, now=day(7)).state is HealthState.DEAD
    # Day 8: flaky fails twice more, 3 days apart: only 2 counted since the reset.
    world.pages["/a/flaky.html"] = (503, "")
    recheck.recheck_source(runtime, FLAKY, now=day(8))
    assert recheck.recheck_source(runtime, FLAKY, now=day(11)).state is HealthState.SUSPECT
    # Day 8: drift's article is rewritten: changed, a new capture, a readable diff.
    world.pages["/a/drift.html"] = (200, article("Кайырбек остаётся под стражей", DRIFT_AFTER))
    changed = recheck.recheck_source(runtime, DRIFT, now=day(8))
    assert changed.changed and changed.captured
    assert changed.similarity is not None and changed.similarity < 90

    with runtime.sessions() as session:
        report = build_report(session, run_id)
    by_url = {s.canonical_url: s for s in report.sources}

    doomed = by_url[DOOMED].health
    assert doomed is not None
    assert doomed.state is HealthState.DEAD
    assert doomed.declared_dead_at == day(7)
    assert doomed.first_seen_failing == day(1)
    assert doomed.last_seen_healthy is not None and doomed.last_seen_healthy < day(1)
    assert [(c.kind.value, c.status.value, c.counted) for c in doomed.history] == [
        ("capture", "ok", False),
        ("recheck", "dead", True),
        ("recheck", "dead", False),
        ("recheck", "dead", True),
        ("recheck", "dead", True),
    ]
    assert doomed.consecutive_failures == 4 and doomed.counted_failures == 3
    # Dead declared: the next look comes a week later, not a day.
    assert doomed.next_check_at == day(7 + 7)

    flaky = by_url[FLAKY].health
    assert flaky is not None
    assert flaky.state is HealthState.SUSPECT and flaky.declared_dead_at is None
    assert flaky.counted_failures == 2 and flaky.last_seen_healthy == day(5)
    assert flaky.next_check_at == day(11 + 1)  # failing: daily

    drift = by_url[DRIFT].health
    assert drift is not None and drift.changed and drift.state is HealthState.HEALTHY
    last = drift.history[-1]
    assert last.changed and last.warc_file and last.sha256
    assert last.diff is not None
    assert "-Защита заявила, что обжалует решение в кассационной инстанции." in last.diff
    assert "+Редакция удалила подробности по требованию суда." in last.diff

    # The dead source's fallback: the closest 200 snapshot before the incident's date.
    copies = by_url[DOOMED].fallbacks
    chosen = [c for c in copies if c.chosen]
    assert len(chosen) == 1
    assert chosen[0].url == f"http://web.archive.org/web/20210906120000/{DOOMED}"
    assert chosen[0].before_target and chosen[0].status == 200
    assert {c.archive for c in copies} == {"web.archive.org", "archive.ph"}
    ph = next(c for c in copies if c.archive == "archive.ph")
    assert not ph.before_target and not ph.chosen
    assert fixture_web_env.hits("archive.org", "/wayback/available")
    assert fixture_web_env.hits("web.archive.org", "/cdx/search/cdx")
    assert fixture_web_env.hits("timetravel.mementoweb.org", "/timemap/link/")
    # Save Page Now is off by default.
    assert fake.saved == []
    assert by_url[DRIFT].fallbacks == []  # a healthy source is never looked up

    # The HTML report shows the history, the diff and the other archive's copy.
    page = render_html(report)
    assert f"declared dead {day(7).date()}" in page
    assert "web.archive.org 2021-09-06" in page
    assert "+Редакция удалила подробности по требованию суда." in page

    # The new capture is a readable WARC record.
    for path in runtime.settings.archive_dir.glob("*.warc.gz*"):
        assert check_file(path).ok


def test_due_sources_follow_the_cadence(runtime: Runtime, fixture_web_env: FixtureWeb) -> None:
    world = _world(fixture_web_env)
    ArchivesFake().install(fixture_web_env)
    capture_digest(runtime, DIGEST)
    day0 = runtime.clock()
    queued: list[int] = []
    with runtime.sessions() as session:
        assert recheck.due_sources(session, runtime.settings, day0 + dt.timedelta(hours=1)) == []
    # gone failed at capture: due after a day; the healthy ones only after a week
    urls = recheck.queue_due(runtime, queued.append, now=day0 + dt.timedelta(days=1, hours=1))
    assert urls == [GONE] and len(queued) == 1
    # queued once: the next beat tick does not queue it again while it waits
    assert recheck.queue_due(runtime, queued.append, now=day0 + dt.timedelta(days=1, hours=2)) == []
    world.pages.clear()
    later = recheck.queue_due(runtime, queued.append, now=day0 + dt.timedelta(days=7, hours=1))
    assert sorted(later) == sorted([DRIFT, DOOMED, FLAKY, GONE])
    result = recheck.recheck_by_id(runtime, queued[-1], now=day0 + dt.timedelta(days=7, hours=2))
    assert result is not None and result.status is SourceStatus.DEAD


def _cookie_file(path: Path, domain: str, cookies: dict[str, str], expires: int) -> None:
    lines = ["# Netscape HTTP Cookie File"]
    for name, value in cookies.items():
        lines.append(f".{domain}\tTRUE\t/\tTRUE\t{expires}\t{name}\t{value}")
    path.write_text("\n".join(lines) + "\n")


def test_login_profile_used_and_its_expiry_caught(
    runtime: Runtime, fixture_web_env: FixtureWeb, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    profiles = runtime.settings.cookie_profiles
    assert profiles is not None
    secret = "s3cr3t-session-token-4242"
    fixture_web_env.route("social.linkrot.test", "/*", login_gate(f"xs={secret}"))
    future = int((dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).timestamp())
    _cookie_file(
        profiles / "social.linkrot.test.txt",
        "social.linkrot.test",
        {"c_user": "42", "xs": secret},
        future,
    )
    digest = (
        "Profile test\n"
        "On September 15, in Almaty, Bakhytzhan Toregozhina collected signatures.[1]\n"
        "[1]https://social.linkrot.test/toregozhina/posts/1\n"
    )
    run_id = capture_digest(runtime, digest)
    with runtime.sessions() as session:
        report = build_report(session, run_id)
    source = report.sources[0]
    assert source.status is SourceStatus.OK, source.reason
    assert "Торегожина" in (source.text_excerpt or "")

    # The session cookie never reaches a WARC file or a log.
    raw = b"".join(
        gzip.decompress(p.read_bytes()) for p in runtime.settings.archive_dir.glob("*.warc.gz*")
    )
    assert b"c_user" not in raw and secret.encode() not in raw
    assert b"WARC-X-Redacted" in raw
    assert secret not in caplog.text

    # The site expires the session: the login page comes back → login_wall + profile_expired.
    _cookie_file(
        profiles / "social.linkrot.test.txt", "social.linkrot.test", {"xs": "stale"}, future
    )
    run_id = capture_digest(runtime, digest)
    with runtime.sessions() as session:
        report = build_report(session, run_id)
    source = report.sources[0]
    assert source.status is SourceStatus.LOGIN_WALL
    codes = [p.code for p in source.problems]
    assert ProblemCode.PROFILE_EXPIRED in codes
    expired = next(p for p in source.problems if p.code is ProblemCode.PROFILE_EXPIRED)
    assert "social.linkrot.test.txt" in expired.message and "stale" not in expired.message
    # never the login page passed off as the post
    assert source.title != "Post by Bakhytzhan Toregozhina"
    assert report.incidents[0].verdict != "verified"


def test_expired_cookies_of_the_facebook_profile(
    runtime: Runtime, fixture_web_env: FixtureWeb
) -> None:
    profiles = runtime.settings.cookie_profiles
    assert profiles is not None
    past = int(dt.datetime(2021, 10, 1, tzinfo=dt.UTC).timestamp())
    _cookie_file(profiles / "facebook.com.txt", "facebook.com", {"c_user": "1", "xs": "old"}, past)
    digest = (
        "FB\nOn September 1, in Aktobe, Reichert Roman was charged.[1]\n"
        "[1]https://www.facebook.com/groups/ActivistsNotExtremists/posts/3091741724478423/\n"
    )
    run_id = capture_digest(runtime, digest)
    with runtime.sessions() as session:
        source = build_report(session, run_id).sources[0]
    assert source.status is SourceStatus.LOGIN_WALL
    problem = next(p for p in source.problems if p.code is ProblemCode.PROFILE_EXPIRED)
    assert "every cookie of it expired (the last on 2021-10-01)" in problem.message
    # the expired cookies were not sent
    hits = fixture_web_env.hits("www.facebook.com", "/groups/")
    assert hits and not any(k == "cookie" for _m, _h, _p, headers in hits for k, _v in headers)


def test_a_soft_404_stays_soft_404_through_every_recheck(
    runtime: Runtime, fixture_web_env: FixtureWeb
) -> None:
    # catchall.test answers every unknown path with its home page, 200: only the sibling
    # probe tells. A re-check used to skip the probe and call the page `ok`, `healthy`,
    # and capture the not-found page as its new baseline.
    from tests.fixtureweb.verification_pages import install_verification

    install_verification(fixture_web_env)
    url = "https://catchall.test/news/12345.html"
    run_id = capture_digest(
        runtime, f"Soft 404 digest\nOn September 9, in Almaty, a picket.[1]\n[1]{url}\n"
    )
    with runtime.sessions() as session:
        report = build_report(session, run_id)
    assert report.sources[0].status is SourceStatus.SOFT_404
    day = dt.datetime(2021, 10, 1, tzinfo=dt.UTC)
    for n in range(3):
        check = recheck.recheck_source(runtime, url, now=day + dt.timedelta(days=3 * n))
        assert check.status is SourceStatus.SOFT_404, n
        assert check.state is not HealthState.HEALTHY, n
        assert not check.captured or n == 0  # no not-found page kept as a baseline
    with runtime.sessions() as session:
        report = build_report(session, run_id)
    health = report.sources[0].health
    assert health is not None and health.state is not HealthState.HEALTHY
    assert all(c.status is SourceStatus.SOFT_404 for c in health.history)

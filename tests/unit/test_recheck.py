"""worker.capture.recheck's hysteresis and drift, worker.capture.fallbacks' choice, and the
resisting-source helpers (profiles, Telegram, PDF, attachments), as plain functions on a
simulated calendar."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from schemas import Digest, Evidence, HealthState, SourceStatus
from worker.capture import fallbacks
from worker.capture.attachments import AttachError, attach, attachments_for_run
from worker.capture.recheck import compare_text, next_check, step_health
from worker.digest.parse import parse_digest
from worker.settings import load_settings
from worker.sites import profiles, telegram
from worker.sites.pdf import extract_pdf
from worker.store.engine import make_engine, make_session_factory
from worker.store.jobs import create_run
from worker.store.models import SourceHealthRow

T0 = dt.datetime(2021, 9, 20, 9, 0, tzinfo=dt.UTC)


def day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def walk(statuses: list[tuple[float, str]]) -> tuple[SourceHealthRow, list[bool]]:
    health = SourceHealthRow(canonical_url="https://x.test/a", state="healthy")
    counted = [step_health(health, SourceStatus(s), day(n)) for n, s in statuses]
    return health, counted


def test_the_dead_rule_is_a_setting(tmp_path: Path) -> None:
    from worker.capture.recheck import DeadRule

    rule = DeadRule.from_settings(
        load_settings(dead_after_failures=2, dead_after_spacing_days=1, data_dir=tmp_path)
    )
    assert (rule.failures, rule.spacing) == (2, dt.timedelta(days=1))
    health = SourceHealthRow(canonical_url="https://x.test/a", state="healthy")
    counted = [step_health(health, SourceStatus.DEAD, day(n), rule) for n in (0, 1)]
    assert counted == [True, True] and health.state == HealthState.DEAD
    default = SourceHealthRow(canonical_url="https://x.test/a", state="healthy")
    for n in (0, 1):
        step_health(default, SourceStatus.DEAD, day(n))
    assert default.state == HealthState.SUSPECT  # 3 failures 3 days apart by default


def test_three_failures_three_days_apart_declare_dead() -> None:
    health, counted = walk([(0, "ok"), (1, "dead"), (4, "dead"), (7, "dead")])
    assert counted == [False, True, True, True]
    assert health.state == HealthState.DEAD and health.declared_dead_at == day(7)
    assert health.first_seen_failing == day(1) and health.last_seen_healthy == day(0)


def test_failures_closer_than_three_days_do_not_count() -> None:
    health, counted = walk([(1, "dead"), (2, "dead"), (3, "dead"), (3.9, "unreachable")])
    assert counted == [True, False, False, False]
    assert health.state == HealthState.SUSPECT and health.consecutive_failures == 4
    # six failures over a week, but only three counted once the spacing allows it
    health, counted = walk([(1, "dead"), (2, "dead"), (4, "dead"), (5, "dead"), (7, "dead")])
    assert counted.count(True) == 3 and health.state == HealthState.DEAD


def test_any_success_resets_and_one_failure_is_suspect_at_once() -> None:
    health, _ = walk([(1, "dead"), (4, "dead"), (6, "ok"), (7, "soft_404")])
    assert health.state == HealthState.SUSPECT
    assert health.counted_failures == 1 and health.first_seen_failing == day(7)
    health, _ = walk([(1, "dead"), (4, "dead"), (7, "dead"), (8, "ok")])
    assert health.state == HealthState.HEALTHY and health.declared_dead_at is None


def test_login_walls_and_blocks_leave_the_state_alone() -> None:
    health, counted = walk([(1, "dead"), (4, "login_wall"), (5, "blocked")])
    assert counted == [True, False, False]
    assert health.state == HealthState.SUSPECT and health.consecutive_failures == 1


def test_cadence_is_daily_for_failing_and_weekly_otherwise() -> None:
    settings = load_settings(recheck_healthy_days=7, recheck_failing_days=1)
    assert next_check("suspect", day(0), settings) == day(1)
    assert next_check("healthy", day(0), settings) == day(7)
    assert next_check("dead", day(0), settings) == day(7)


def test_drift_similarity_and_a_readable_diff() -> None:
    before = "Суд продлил арест Аскара Кайырбека.\nЗащита обжалует решение."
    same = compare_text(before, before.replace("\n", "\n  "), 90)
    assert same.similarity == 100 and not same.changed and same.diff is None
    small = compare_text(before, before.replace("обжалует", "обжаловала"), 90)
    assert not small.changed and small.diff is not None  # a typo-sized edit is not drift
    big = compare_text(before, "Материал удалён по требованию суда.", 90)
    assert big.changed and big.similarity < 90
    assert big.diff is not None
    assert "-Суд продлил арест Аскара Кайырбека." in big.diff.splitlines()
    assert "+Материал удалён по требованию суда." in big.diff.splitlines()


def _found(ts: str, status: int | None = 200, archive: str = "web.archive.org") -> fallbacks.Found:
    when = dt.datetime.strptime(ts, "%Y%m%d").replace(tzinfo=dt.UTC)
    return fallbacks.Found(archive, f"https://{archive}/web/{ts}/u", when, status, "cdx")


def test_choose_closest_200_before_the_incident() -> None:
    target = fallbacks.target_moment(dt.date(2021, 9, 6), "Asia/Almaty")
    assert target == dt.datetime(2021, 9, 6, 17, 59, 59, tzinfo=dt.UTC)  # Almaty end of day
    picks = fallbacks.choose(
        [
            _found("20210901"),
            _found("20210906"),
            _found("20210906", status=404, archive="web.archive.org"),
            _found("20210907"),
            _found("20210910", archive="archive.ph"),
        ],
        target,
    )
    wayback = next(c for c in picks if c.archive == "web.archive.org")
    assert wayback.url.endswith("/20210906/u") and wayback.chosen and wayback.before_target
    ph = next(c for c in picks if c.archive == "archive.ph")
    assert not ph.before_target and not ph.chosen
    assert fallbacks.choose([_found("20210906", status=302)], target) == []


def test_parse_timemap_link_format() -> None:
    timemap = (
        '<https://t.test/a>; rel="original",\n'
        '<http://timetravel.mementoweb.org/timemap/link/https://t.test/a>; rel="self"; '
        'type="application/link-format",\n'
        '<http://web.archive.org/web/20210905080000/https://t.test/a>; rel="first memento"; '
        'datetime="Sun, 05 Sep 2021 08:00:00 GMT",\n'
        '<https://archive.ph/abcd>; rel="last memento"; datetime="Wed, 08 Sep 2021 00:00:00 GMT"\n'
    )
    found = fallbacks.parse_timemap(timemap)
    assert [(f.archive, f.captured_at.day) for f in found] == [
        ("web.archive.org", 5),
        ("archive.ph", 8),
    ]


def test_private_domains_include_subdomains() -> None:
    assert fallbacks.is_private("https://m.vk.com/x", ["vk.com"])
    assert not fallbacks.is_private("https://notvk.com/x", ["vk.com"])
    settings = load_settings(save_page_now=True, private_domains=["vk.com"])
    # refused before any request is built: a client that fails on use proves it
    import httpx

    def boom(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"private source sent to an archive: {request.url}")

    with httpx.Client(transport=httpx.MockTransport(boom)) as client:
        assert fallbacks.save_page_now(client, settings, "https://vk.com/wall1") is False
        off = load_settings(save_page_now=False)
        assert fallbacks.save_page_now(client, off, "https://public.test/a") is False


def test_profile_lookup_most_specific_first_and_expired_cookies_dropped(tmp_path: Path) -> None:
    header = "# Netscape HTTP Cookie File\n"
    (tmp_path / "facebook.com.txt").write_text(
        header
        + ".facebook.com\tTRUE\t/\tTRUE\t1000\told\tx\n"
        + ".facebook.com\tTRUE\t/\tTRUE\t4000000000\tc_user\t42\n"
    )
    (tmp_path / "m.facebook.com.txt").write_text(header)
    assert profiles.profile_path(tmp_path, "www.facebook.com") == tmp_path / "facebook.com.txt"
    assert profiles.profile_path(tmp_path, "m.facebook.com") == tmp_path / "m.facebook.com.txt"
    assert profiles.profile_path(tmp_path, "vk.com") is None
    profile = profiles.profile_for(tmp_path, "https://www.facebook.com/groups/1", now=2000)
    assert profile is not None and profile.cookies == 1 and profile.expired == 1
    wall = Evidence(status=SourceStatus.LOGIN_WALL, reason="login page")
    problem = profiles.expired_problem(profile, wall)
    assert (
        problem is not None
        and "facebook.com.txt" in problem.message
        and "42" not in problem.message
    )
    assert profiles.expired_problem(profile, Evidence(status=SourceStatus.OK, reason="")) is None
    (tmp_path / "bad.test.txt").write_text("not a cookie file")
    with pytest.raises(profiles.ProfileError, match=r"bad\.test\.txt"):
        profiles.profile_for(tmp_path, "https://bad.test/")


PREVIEW = """<html><head><title>Channel – Telegram</title></head><body>
<div class="tgme_widget_message" data-post="kazakh_news/122">
<div class="tgme_widget_message_text">Другой пост</div>
<time datetime="2021-09-14T10:00:00+00:00"></time></div>
<div class="tgme_widget_message" data-post="kazakh_news/123">
<span class="tgme_widget_message_owner_name">Kazakh News</span>
<div class="tgme_widget_message_text">Суд оставил Алнура Ильяшева под ограничением свободы.</div>
<time datetime="2021-09-15T20:30:00+00:00"></time></div></body></html>"""


def test_telegram_preview_url_and_the_cited_post() -> None:
    assert telegram.fetch_url("https://t.me/kazakh_news/123") == "https://t.me/s/kazakh_news/123"
    assert telegram.fetch_url("https://t.me/s/kazakh_news/123") == "https://t.me/s/kazakh_news/123"
    assert (
        telegram.fetch_url("https://rus.azattyq.org/a/1.html") == "https://rus.azattyq.org/a/1.html"
    )
    page = telegram.extract_post(PREVIEW.encode(), "https://t.me/s/kazakh_news/123")
    assert page is not None and not hasattr(page, "reason")
    assert "Ильяшева" in page.text and "Другой" not in page.text
    # the post states the 15th (UTC); 20:30 UTC is the 16th in Almaty, which the date
    # check reads from published_at
    assert page.published == dt.date(2021, 9, 15)
    assert page.published_at == "2021-09-15T20:30:00+00:00"
    missing = telegram.extract_post(PREVIEW.encode(), "https://t.me/s/kazakh_news/999")
    assert missing is not None and "999" in getattr(missing, "reason", "")


def make_pdf(lines: list[str], creation: str = "D:20211001120000Z") -> bytes:
    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 11 Tf 72 720 Td 14 TL " + " ".join(f"({esc(x)}) Tj T*" for x in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        f"<< /Title (Ruling) /CreationDate ({creation}) >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{obj}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return out


def test_pdf_ruling_text_and_written_date() -> None:
    pdf = make_pdf(
        [
            "Ruling of the Specialized Inter-district Court, 14.09.2021",
            "The court found Askar Kayirbek guilty under Article 405 and extended detention.",
        ]
    )
    page = extract_pdf(pdf, url="https://court.test/r.pdf")
    assert not hasattr(page, "reason"), page
    assert "Kayirbek" in page.text
    assert page.published == dt.date(2021, 9, 14) and page.date_source == "pdf:text"
    assert [s.source for s in page.date_candidates] == ["pdf:text", "pdf:CreationDate"]
    broken = extract_pdf(b"%PDF-1.4 garbage", url="https://court.test/x.pdf")
    assert hasattr(broken, "reason")


def test_attach_a_file_to_a_footnote(tmp_path: Path) -> None:
    sessions = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    digest: Digest = parse_digest(
        "T\nOn September 2, in Almaty, Askar Kayirbek was detained.[1]\n[1]https://a.test/1\n",
        name="att",
        year=2021,
    )
    shot = tmp_path / "screenshot.png"
    shot.write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 1000)
    with sessions() as session:
        create_run(session, "att", digest)
        row = attach(session, tmp_path / "data", "att", 1, shot, note="taken by the editor", now=T0)
        again = attach(session, tmp_path / "data", "att", 1, shot, now=T0)
        with pytest.raises(AttachError, match=r"\[7\]"):
            attach(session, tmp_path / "data", "att", 7, shot)
        with pytest.raises(AttachError, match="no digest run"):
            attach(session, tmp_path / "data", "nope", 1, shot)
        listed = attachments_for_run(session, "att")
    sha = hashlib.sha256(shot.read_bytes()).hexdigest()
    assert row.sha256 == sha and again.path == row.path  # stored once, content addressed
    stored = tmp_path / "data" / row.path
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha
    assert [(a.footnote, a.media_type, a.note) for a in listed] == [
        (1, "image/png", "taken by the editor"),
        (1, "image/png", None),
    ]

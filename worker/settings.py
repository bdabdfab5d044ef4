"""One typed settings object: defaults here, overlaid by SOURCEVAULT_* environment, then flags.

A bad value exits with a message that names the key (see `load_settings`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_INCIDENT_TZ = "Asia/Almaty"  # the September digest's calendar
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36 sourcevault/0.1 (+archiving cited sources)"
)


# Analytics, ad and tracking hosts a page pulls in: never evidence, never needed to render it.
TRACKER_DOMAINS = (
    "google-analytics.com",
    "googletagmanager.com",
    "googlesyndication.com",
    "googleadservices.com",
    "doubleclick.net",
    "connect.facebook.net",
    "mc.yandex.ru",
    "an.yandex.ru",
    "top-fwz1.mail.ru",
    "counter.yadro.ru",
    "tns-counter.ru",
    "adfox.ru",
    "adriver.ru",
    "scorecardresearch.com",
    "chartbeat.com",
    "chartbeat.net",
    "quantserve.com",
    "hotjar.com",
    "criteo.com",
    "criteo.net",
    "gemius.pl",
)


class SettingsError(ValueError):
    """A configuration value is wrong; the message names the key."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOURCEVAULT_", extra="ignore")

    data_dir: Path = Field(default=Path("./sourcevault-data"), description="WARCs, database, keys")
    broker_url: str | None = Field(
        default=None, description="Celery broker; unset means the embedded Valkey + worker"
    )
    result_backend: str | None = Field(default=None, description="defaults to the broker URL")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset means SQLite in the data dir"
    )
    collection: str = Field(default="sourcevault", description="pywb collection name")
    replay_base_url: str = Field(
        default="http://127.0.0.2:8090",
        description="public base of replay (pywb): every replay link in reports, citations "
        "and exports starts with it. Another site than the web app: locally another loopback "
        "address (the default), deployed its own host name, e.g. https://replay.example-archive.org",
    )

    # fetching
    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=20.0, gt=0)
    total_timeout: float = Field(default=60.0, gt=0, description="wall-clock cap per fetch")
    max_redirects: int = Field(default=10, ge=0)
    max_body_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_html_bytes: int = Field(default=5 * 1024 * 1024, gt=0, description="handed to extraction")
    max_decompression_ratio: int = Field(default=100, gt=0)
    retries: int = Field(default=2, ge=0, description="retries of transient fetch failures")
    retry_backoff: float = Field(
        default=1.0, ge=0, description="seconds of the first retry's backoff (doubles each retry)"
    )
    per_host_concurrency: int = Field(
        default=2, ge=1, description="requests in flight to one host (per worker process)"
    )
    per_host_delay: float = Field(
        default=0.5,
        ge=0,
        description="seconds between page requests to one host (a page's images, styles "
        "and scripts follow it at once, within per_host_concurrency)",
    )
    ca_bundle: Path | None = Field(
        default=None, description="extra CA file; SSL_CERT_FILE is honoured too"
    )
    allow_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs the egress policy allows although they are private (intranets, tests)",
    )

    # archiving and the queue
    warc_max_size: int = Field(default=256 * 1024 * 1024, gt=0, description="rotate WARC files")
    # Most of a capture is waiting on the network (and on per-host turns), and extraction
    # runs in its own processes: 24 threads keep the fetch slots full on two cores.
    concurrency: int = Field(default=24, ge=1, description="capture tasks in flight per worker")
    extract_processes: int | None = Field(
        default=None,
        ge=0,
        description="extraction processes beside the capture threads (worker.pool); "
        "default one per core, 0 extracts in the capture thread (prefork workers do)",
    )
    extract_timeout: float = Field(
        default=60,
        gt=0,
        description="seconds one page may spend in an extraction process; then its process "
        "is killed and the page is an extraction failure",
    )
    task_soft_time_limit: int = Field(default=240, gt=0)
    task_time_limit: int = Field(default=300, gt=0)
    visibility_timeout: int = Field(default=3600, gt=0)
    debug_pause_before_commit: float = Field(
        default=0,
        ge=0,
        description="fault injection (crash tests): sleep between the WARC fsync and the DB commit",
    )
    timings_file: Path | None = Field(
        default=None,
        description="append where each capture's wall time went, and the run's start and end "
        "marks, as JSON lines (worker.timings; for bench/); off by default",
    )

    # link-rot watch (worker.capture.recheck, .fallbacks) and sources that resist capture
    recheck_healthy_days: float = Field(default=7, gt=0, description="re-check healthy sources")
    recheck_failing_days: float = Field(default=1, gt=0, description="re-check failing sources")
    recheck_every_minutes: float = Field(
        default=15, gt=0, description="how often beat looks for due re-checks"
    )
    recheck_batch: int = Field(default=200, ge=1, description="re-checks queued per beat tick")
    drift_threshold: float = Field(
        default=90.0, ge=0, le=100, description="text similarity (0-100) below which it changed"
    )

    # the date check (worker.judge.dates): the incident's zone and the window around it
    incident_tz: str = Field(
        default=DEFAULT_INCIDENT_TZ,
        description="IANA zone the digest's incident dates are days in (and the report's)",
    )
    date_before_days: int = Field(
        default=7, ge=0, description="a source may predate the earliest incident date by this"
    )
    date_after_days: int = Field(
        default=30, ge=0, description="and follow the incident date by this many days"
    )
    date_max_mention_days: int = Field(
        default=60, ge=0, description="dates the incident mentions older than this are history"
    )
    # the verdict rules that are judgement calls, tunable in one place
    dead_after_failures: int = Field(
        default=3, ge=1, description="counted re-check failures before a source is dead"
    )
    dead_after_spacing_days: float = Field(
        default=3, ge=0, description="days between failures for both to count towards dead"
    )
    soft404_similarity: float = Field(
        default=90.0, ge=0, le=100, description="sibling-probe text similarity that is soft_404"
    )
    wayback_available_url: str = "https://archive.org/wayback/available"
    wayback_cdx_url: str = "https://web.archive.org/cdx/search/cdx"
    memento_timemap_url: str = "https://timetravel.mementoweb.org/timemap/link/"
    fallback_lookup: bool = Field(
        default=True, description="look up copies in other archives for failing sources"
    )
    save_page_now: bool = Field(
        default=False, description="submit failing sources to the Wayback Machine's Save Page Now"
    )
    save_page_now_url: str = "https://web.archive.org/save/"
    private_domains: list[str] = Field(
        default_factory=list,
        description="never sent to another archive (Save Page Now); subdomains included",
    )
    cookie_profiles: Path | None = Field(
        default=None, description="dir of Netscape cookies.txt login profiles named <domain>.txt"
    )
    screenshots: bool = Field(default=False, description="PNG of each page (needs chromium)")
    chromium_path: Path = Field(default=Path("/usr/bin/chromium"))

    # second vantages (worker.capture.vantage): a source that looks blocked from here is
    # tried again through each, so a block is told from a dead link
    vantages: dict[str, str] = Field(
        default_factory=dict,
        description='name -> proxy URL (http, https, socks5, socks5h), e.g. {"abroad": '
        '"socks5h://127.0.0.1:9050"} for Tor; empty: one vantage, this one',
    )

    # how a page is captured (worker.capture.mode, worker.capture.browser)
    capture: Literal["http", "browser", "auto"] = Field(
        default="http",
        description="http: httpx and the page's requisites; browser: headless Chromium "
        "(every request through the same fetcher); auto: the browser when the plain fetch "
        "shows scripts but next to no text",
    )
    capture_domains: dict[str, Literal["http", "browser", "auto"]] = Field(
        default_factory=dict,
        description='per domain (subdomains included), e.g. {"facebook.com": "browser"}',
    )
    browser_timeout: float = Field(
        default=60, gt=0, description="seconds a browser capture may take to load the page"
    )
    auto_min_text: int = Field(
        default=200, ge=0, description="auto: fewer extracted characters than this is 'no text'"
    )

    # page requisites: what each page needs to render, archived with it (worker.capture.requisites)
    requisites: bool = Field(
        default=True, description="archive each page's images, stylesheets, scripts and fonts"
    )
    requisite_max_count: int = Field(
        default=80, ge=0, description="requisites fetched per page at most (the rest: skipped)"
    )
    requisite_max_bytes: int = Field(
        default=30 * 1024 * 1024, ge=0, description="bytes of requisites fetched per page at most"
    )
    requisite_timeout: float = Field(
        default=60, gt=0, description="seconds a page's requisites may take in all"
    )
    requisite_concurrency: int = Field(
        default=4, ge=1, description="requisites of one page in flight (per-host limits still hold)"
    )
    requisite_reuse: float = Field(
        default=86400,
        ge=0,
        description="seconds an archived image, script or font (same URL, 2xx) stands for "
        "later pages instead of a new fetch; stylesheets are always fetched; 0 = fetch all",
    )
    requisite_blocklist: list[str] = Field(
        default_factory=lambda: list(TRACKER_DOMAINS),
        description="domains (subdomains included) whose requisites are skipped: "
        "analytics and ad trackers; each skip is recorded",
    )

    # chain of custody (worker.custody.log, worker.custody.timestamps)
    tsa_url: str | None = Field(
        default=None, description="RFC 3161 timestamp authority; unset = no timestamps"
    )
    tsa_ca_file: Path | None = Field(
        default=None, description="CA (PEM) that `verify` requires the TSA certificate to chain to"
    )

    # dead workers and local failures (worker.store.jobs, worker.queue.tasks): a dead worker's jobs
    # are taken over within claim_stale_after + sweep_interval (under a minute)
    claim_heartbeat_interval: float = Field(
        default=10, gt=0, description="seconds between refreshes of a running capture's claim"
    )
    claim_stale_after: float = Field(
        default=35,
        gt=0,
        description="a claim not refreshed for this long belongs to a dead worker: taken over",
    )
    sweep_interval: float = Field(
        default=15,
        gt=0,
        description="seconds between each worker's sweeps for dead workers' and lost jobs",
    )
    finalize_grace: float = Field(
        default=20,
        ge=0,
        description="seconds a run with every job ended waits for its chord callback "
        "before a sweeper finalizes it",
    )
    storage_retries: int = Field(
        default=3,
        ge=0,
        description="retries of a capture that failed on local storage (WARC or database); "
        "then the run fails naming the error",
    )

    @field_validator("vantages", mode="after")
    @classmethod
    def _vantage_proxies(cls, value: dict[str, str]) -> dict[str, str]:
        for name, proxy in value.items():
            scheme = proxy.split("://", 1)[0].lower() if "://" in proxy else ""
            if scheme not in ("http", "https", "socks5", "socks5h"):
                raise ValueError(
                    f"vantage {name!r}: {proxy!r} is not an http(s) or socks5 proxy URL"
                )
            if name == "here":
                raise ValueError("'here' names this worker's own path: choose another vantage name")
        return value

    @field_validator("replay_base_url", mode="after")
    @classmethod
    def _replay_base(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL with a host")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r}: a replay base has no query or fragment")
        return value.rstrip("/")

    @field_validator("incident_tz", mode="after")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Almaty)") from exc
        return value

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sourcevault.db'}"

    @property
    def collection_dir(self) -> Path:
        return self.data_dir / "collections" / self.collection

    @property
    def archive_dir(self) -> Path:
        return self.collection_dir / "archive"

    @property
    def indexes_dir(self) -> Path:
        return self.collection_dir / "indexes"

    @property
    def effective_ca_bundle(self) -> Path | None:
        if self.ca_bundle:
            return self.ca_bundle
        env = os.environ.get("SSL_CERT_FILE")
        return Path(env) if env else None


def load_settings(**overrides: object) -> Settings:
    """Environment first, then explicit overrides (from CLI flags); None overrides are ignored."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise SettingsError(
            f"bad setting {key!r} (env SOURCEVAULT_{key.upper()}): {err['msg']}"
        ) from exc
    if settings.claim_heartbeat_interval * 2 >= settings.claim_stale_after:
        raise SettingsError(
            "claim_heartbeat_interval must stay under half of claim_stale_after, or live "
            "captures look dead"
        )
    if settings.task_time_limit >= settings.visibility_timeout:
        raise SettingsError(
            "task_time_limit must stay below visibility_timeout, or Redis redelivers running tasks"
        )
    return settings

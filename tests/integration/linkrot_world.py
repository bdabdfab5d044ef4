"""A small web whose pages change and die as a simulated calendar advances.

`World` holds what each path answers today; tests mutate it between re-checks.
`capture_digest(runtime, text)` runs the real first capture (worker.capture.pipeline) of every
source of a digest, as a run would, and returns the run id.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from tests.fixtureweb import FixtureWeb, Request, Response, html, redirect, text
from worker.capture import pipeline
from worker.digest.parse import parse_digest
from worker.runtime import Runtime
from worker.store import jobs
from worker.store.models import CaptureJob

HOST = "news.linkrot.test"
_runs = itertools.count(1)


def article(title: str, paragraphs: list[str], published: str = "2021-09-06T10:00:00+06:00") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<!DOCTYPE html><html lang='ru'><head><meta charset='utf-8'>"
        f"<title>{title}</title>"
        f"<meta property='article:published_time' content='{published}'></head>"
        f"<body><article><h1>{title}</h1><time datetime='{published}'></time>{body}"
        "</article></body></html>"
    )


@dataclass
class World:
    """path → (status, html) today; a path missing from `pages` is a 404."""

    pages: dict[str, tuple[int, str]] = field(default_factory=dict)

    def handler(self, req: Request) -> Response:
        status, body = self.pages.get(req.path, (404, "<h1>Страница не найдена</h1>"))
        if status == 404:
            return html(body, status=404)
        if status >= 500:
            return text("upstream down", status)
        return html(body, status=status)

    def install(self, fw: FixtureWeb) -> World:
        fw.route(HOST, "/*", self.handler)
        return self


def capture_digest(runtime: Runtime, digest_text: str, year: int = 2021) -> str:
    run_id = f"linkrot-{next(_runs)}-{id(runtime)}"
    digest = parse_digest(digest_text, name=run_id, year=year)
    with runtime.sessions() as session:
        jobs.create_run(session, run_id, digest)
        job_ids = [
            j.id
            for j in session.query(CaptureJob).filter_by(run_id=run_id)
            if j.status == "pending"
        ]
    for job_id in job_ids:
        pipeline.capture_one(runtime, run_id, job_id, task_id=None)
    return run_id


def login_gate(session_cookie: str) -> object:
    """A social site that shows the post only to a request carrying `session_cookie`."""

    def handle(req: Request) -> Response:
        cookies = req.header("cookie") or ""
        if req.path.startswith("/login"):
            return html(
                "<html><head><title>Log in</title></head><body><form action='/login'>"
                "<input name='email'><input type='password' name='pass'>"
                "<button>Log in</button></form></body></html>"
            )
        if session_cookie in cookies:
            return html(
                article(
                    "Post by Bakhytzhan Toregozhina",
                    [
                        "Бахытжан Торегожина начала сбор подписей за освобождение Арона Атабека "
                        "из заключения. Обращение опубликовано на её странице 15 сентября.",
                    ],
                    "2021-09-15T12:00:00+06:00",
                )
            )
        return redirect(f"https://{req.host}/login/?next={req.path}", 302)

    return handle

"""The API against its own description: schemathesis fuzzes every operation of
/openapi.json in-process (ASGI, no network) with an editor token (issue #15.14).

Every response must be a documented status code with a body that matches the declared
schema (errors included), never a 5xx; times carry a time zone. Bounded for CI: a fixed
number of examples per operation, derandomised so a failure reproduces.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from archive.web.app import create_app
from archive.web.auth import Role
from archive.web.config import WebConfig
from worker.digest.parse import parse_digest
from worker.settings import load_settings
from worker.store import jobs

SEPTEMBER = Path(__file__).resolve().parents[2] / "examples" / "2021-09-kazakhstan.txt"
MAX_EXAMPLES = 100  # per operation: 8 operations, ~30 s on two shared cores


# Built at import: schemathesis's pytest integration parametrizes from a schema object
# (its lazy `from_fixture` breaks on pytest 9: it reads the removed `Function._nodeid`).
_TMP = Path(tempfile.mkdtemp(prefix="sourcevault-schemathesis-"))
_APP = create_app(
    load_settings(data_dir=_TMP / "data", broker_url=None), WebConfig(max_upload_bytes=200_000)
)
_APP.state.access.users.add("editor", Role.EDITOR, "editor-password-1")
EDITOR_TOKEN = _APP.state.access.users.issue_token("editor")


def _store_a_run() -> None:
    """One stored run, so the listing and progress answers carry real rows and times."""
    service = _APP.state.service
    digest = parse_digest(SEPTEMBER.read_text("utf-8"), name="2021-09-kazakhstan")
    with service.sessions() as session:
        jobs.create_run(session, jobs.next_run_id(session, digest.id), digest, source_name="t")


_store_a_run()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)


@pytest.fixture(scope="module", autouse=True)
def _broker(redis_url: str) -> Iterator[None]:
    """A real redis-server on 127.0.0.1 as the broker: queueing answers 202, not the
    documented 503 of an app without one (a 5xx schemathesis rightly flags)."""
    service = _APP.state.service
    service.settings = load_settings(data_dir=_TMP / "data", broker_url=redis_url)
    yield
    service.close()
    shutil.rmtree(_TMP, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_own_description(case: schemathesis.Case) -> None:
    excluded: list[CheckFunction] = []
    if case.operation.path == "/api/digests/upload":
        # A file's content cannot be described in OpenAPI: an empty, binary or .pdf file
        # is schema-valid yet rightly a 422 (documented). And multipart cannot carry a
        # JSON type: schemathesis's "file is null" negative case arrives as a file whose
        # content is the four bytes "null", a fine upload. Every other check still applies.
        excluded += [positive_data_acceptance, negative_data_rejection]
    case.call_and_validate(
        headers={"Authorization": f"Bearer {EDITOR_TOKEN}"}, excluded_checks=excluded
    )

"""Second vantages: which outcomes ask one (worker.capture.vantage) and bad settings."""

from __future__ import annotations

import pytest

from schemas import Evidence, SourceStatus
from worker.capture.vantage import looks_blocked
from worker.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("status", "http_status", "asks"),
    [
        (SourceStatus.UNREACHABLE, None, True),  # reset, timeout, TLS: how blocks look
        (SourceStatus.BLOCKED, 200, True),  # an ISP block page
        (SourceStatus.BLOCKED, 451, True),
        (SourceStatus.DEAD, None, True),  # the name does not resolve here
        (SourceStatus.DEAD, 404, False),  # the site itself says it is gone
        (SourceStatus.OK, 200, False),
        (SourceStatus.LOGIN_WALL, 200, False),
        (SourceStatus.SOFT_404, 200, False),
    ],
)
def test_only_what_a_block_looks_like_is_asked_again(
    status: SourceStatus, http_status: int | None, asks: bool
) -> None:
    evidence = Evidence(status=status, reason="x", http_status=http_status)
    assert looks_blocked(evidence) is asks


def test_a_vantage_must_be_a_proxy_url_and_not_named_here() -> None:
    with pytest.raises(SettingsError, match="vantages"):
        load_settings(vantages={"abroad": "ftp://proxy.example:21"})
    with pytest.raises(SettingsError, match="here"):
        load_settings(vantages={"here": "socks5h://127.0.0.1:9050"})
    assert load_settings(vantages={"tor": "socks5h://127.0.0.1:9050"}).vantages

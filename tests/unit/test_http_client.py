"""http_client: proxy env → mounts, CA bundles, and the transport seam. No connections."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpcore
import httpx
import pytest
import trustme

from worker.fetch.client import (
    build_client,
    build_egress_policy,
    build_ssl_context,
    proxy_routes_from_env,
)
from worker.fetch.egress import PinnedTransport
from worker.settings import Settings, SettingsError


def _mounts(client: httpx.Client) -> dict[str, httpx.BaseTransport | None]:
    return {p.pattern: t for p, t in client._mounts.items()}


def _pool(transport: httpx.BaseTransport | None) -> object:
    assert isinstance(transport, httpx.HTTPTransport)
    return transport._pool


def test_all_proxy_socks5_and_no_proxy_build_mounts() -> None:
    env = {"ALL_PROXY": "socks5://127.0.0.1:9050", "NO_PROXY": "localhost,.internal.test,10.1.2.3"}
    with build_client(Settings(), environ=env) as client:
        mounts = _mounts(client)
        assert isinstance(_pool(mounts["all://"]), httpcore.SOCKSProxy)
        assert mounts["all://localhost"] is None
        assert mounts["all://*.internal.test"] is None
        assert mounts["all://10.1.2.3"] is None
        # NO_PROXY hosts fall back to the default transport: the DNS-pinning one
        assert isinstance(client._transport, PinnedTransport)
        assert client._transport_for_url(httpx.URL("http://x.internal.test/")) is client._transport
        assert client._transport_for_url(httpx.URL("https://kaztag.kz/")) is mounts["all://"]


def test_http_and_https_proxies_and_lower_case_wins() -> None:
    env = {
        "HTTP_PROXY": "http://upper:3128",
        "http_proxy": "http://lower:3128",
        "HTTPS_PROXY": "proxy.test:8080",  # no scheme: http:// assumed, as httpx does
    }
    routes = proxy_routes_from_env(env)
    assert routes.table == {"http://": "http://lower:3128", "https://": "http://proxy.test:8080"}
    with build_client(Settings(), environ=env) as client:
        assert isinstance(_pool(_mounts(client)["https://"]), httpcore.HTTPProxy)


def test_routes_match_like_httpx() -> None:
    routes = proxy_routes_from_env(
        {"ALL_PROXY": "socks5h://tor:9050", "NO_PROXY": "example.com,::1"}
    )
    assert routes.proxy_for("https://rus.azattyq.org/a") == "socks5h://tor:9050"
    assert routes.proxy_for("https://www.example.com/") is None
    assert routes.proxy_for("http://[::1]:8000/") is None
    assert routes


def test_no_proxy_star_disables_proxies() -> None:
    routes = proxy_routes_from_env({"ALL_PROXY": "socks5://tor:9050", "NO_PROXY": "*"})
    assert not routes and routes.table == {}


def test_no_env_no_mounts() -> None:
    with build_client(Settings(), environ={}) as client:
        assert _mounts(client) == {}


def test_bad_proxy_scheme_is_loud() -> None:
    with pytest.raises(SettingsError, match="ALL_PROXY"):
        proxy_routes_from_env({"ALL_PROXY": "socks4://tor:9050"})


def test_policy_follows_the_proxy_table() -> None:
    env = {"ALL_PROXY": "socks5://tor:9050", "NO_PROXY": "intranet.test"}
    policy = build_egress_policy(Settings(), environ=env)
    assert policy.proxied
    assert policy.is_proxied("https://kaztag.kz/")
    assert not policy.is_proxied("http://intranet.test/")
    assert not build_egress_policy(Settings(), environ={}).proxied


def test_ssl_cert_file_and_ca_bundle_are_added_to_certifi(tmp_path: Path) -> None:
    env_ca, setting_ca = trustme.CA(), trustme.CA()
    env_file, setting_file = tmp_path / "env.pem", tmp_path / "setting.pem"
    env_ca.cert_pem.write_to_path(str(env_file))
    setting_ca.cert_pem.write_to_path(str(setting_file))

    baseline = len(build_ssl_context(Settings(), environ={}).get_ca_certs())
    ctx = build_ssl_context(
        Settings(ca_bundle=setting_file), environ={"SSL_CERT_FILE": str(env_file)}
    )
    assert len(ctx.get_ca_certs()) == baseline + 2  # certifi kept, two CAs added
    assert "trustme" in str(ctx.get_ca_certs()[-1]["subject"])
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname

    with build_client(Settings(), environ={"SSL_CERT_FILE": str(env_file)}) as client:
        pool_ctx = _pool(client._transport)._ssl_context  # type: ignore[attr-defined]
        assert len(pool_ctx.get_ca_certs()) == baseline + 1


def test_missing_ca_file_is_loud(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SSL_CERT_FILE"):
        build_ssl_context(Settings(), environ={"SSL_CERT_FILE": str(tmp_path / "nope.pem")})


def test_transport_seam_gets_everything_and_client_is_configured() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "/b", "Set-Cookie": "s=1"})

    settings = Settings(user_agent="TestAgent/1", connect_timeout=3, read_timeout=7)
    env = {"ALL_PROXY": "socks5://tor:9050"}  # ignored with a transport, as in httpx
    with build_client(settings, transport=httpx.MockTransport(handler), environ=env) as client:
        assert _mounts(client) == {}
        response = client.get("https://a.test/a")
        assert response.status_code == 302  # not followed
        assert not client.follow_redirects
        assert not client.cookies  # the client jar never stores
        assert client.timeout.connect == 3 and client.timeout.read == 7
    assert seen[0].headers["user-agent"] == "TestAgent/1"
    assert "br" in seen[0].headers["accept-encoding"]


def test_proxy_credentials_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="worker.fetch.client")
    with build_client(Settings(), environ={"ALL_PROXY": "socks5://user:secret@tor:9050"}):
        pass
    assert "secret" not in caplog.text and "tor:9050" in caplog.text

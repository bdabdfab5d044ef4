"""fetch_errors: the tree's shape, and httpx errors mapped by cause type, not by message."""

from __future__ import annotations

import socket
import ssl

import httpcore
import httpx
import pytest

from worker.fetch import errors as fe

URL = "https://example.test/a"


def _httpx_error(cls: type[Exception], cause: BaseException | None) -> Exception:
    """An httpx exception chained like httpx builds it: httpx ← httpcore ← OS error."""
    try:
        try:
            try:
                if cause is not None:
                    raise cause
                raise httpcore.ConnectError("boom")
            except BaseException as os_exc:
                raise httpcore.ConnectError("boom") from os_exc
        except httpcore.ConnectError as core_exc:
            raise cls("message text never matters") from core_exc
    except Exception as exc:
        return exc
    raise AssertionError("unreachable")


def _mapped(exc: Exception, *, proxied: bool = False) -> fe.FetchError:
    with pytest.raises(fe.FetchError) as info, fe.map_httpx_errors(URL, proxied=proxied):
        raise exc
    assert info.value.__cause__ is exc
    assert info.value.url == URL
    return info.value


def test_tree_shape() -> None:
    assert issubclass(fe.ConnectTimeout, fe.TimeoutError_)
    assert issubclass(fe.DeadlineExceeded, fe.TimeoutError_)
    assert issubclass(fe.NameNotResolved, fe.ConnectError)
    assert issubclass(fe.ConnectionRefused, fe.ConnectError)
    assert issubclass(fe.ConnectionReset, fe.ConnectError)
    assert issubclass(fe.RedirectLoop, fe.TooManyRedirects)
    for name in fe.__all__:
        obj = getattr(fe, name)
        if isinstance(obj, type):
            assert issubclass(obj, fe.FetchError)
            assert name in (fe.__doc__ or "") or name == "FetchError"


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), fe.NameNotResolved),
        (ConnectionRefusedError(111, "Connection refused"), fe.ConnectionRefused),
        (ConnectionResetError(104, "Connection reset by peer"), fe.ConnectionReset),
        (ssl.SSLCertVerificationError("certificate verify failed"), fe.TLSError),
        (OSError(113, "No route to host"), fe.ConnectError),
    ],
)
def test_connect_error_by_cause_type(cause: BaseException, expected: type) -> None:
    assert type(_mapped(_httpx_error(httpx.ConnectError, cause))) is expected


def test_message_strings_are_ignored() -> None:
    # A refusal whose message *says* "Name or service not known" is still a refusal.
    cause = ConnectionRefusedError(111, "Name or service not known")
    assert type(_mapped(_httpx_error(httpx.ConnectError, cause))) is fe.ConnectionRefused


def test_reset_mid_body() -> None:
    exc = _httpx_error(httpx.ReadError, ConnectionResetError(104, "reset"))
    assert type(_mapped(exc)) is fe.ConnectionReset


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectTimeout("t"), fe.ConnectTimeout),
        (httpx.ReadTimeout("t"), fe.ReadTimeout),
        (httpx.PoolTimeout("t"), fe.TimeoutError_),
        (httpx.RemoteProtocolError("bad status line"), fe.ProtocolError),
        (httpx.LocalProtocolError("x"), fe.ProtocolError),
        (httpx.ProxyError("502 from proxy"), fe.ProxyError),
        (httpx.UnsupportedProtocol("ftp"), fe.EgressRefused),
        (httpx.TooManyRedirects("many"), fe.TooManyRedirects),
        (httpx.InvalidURL("bad"), fe.InvalidURL),
    ],
)
def test_direct_mappings(exc: Exception, expected: type) -> None:
    assert type(_mapped(exc)) is expected


def test_proxied_connect_failure_is_the_proxy() -> None:
    exc = _httpx_error(httpx.ConnectError, ConnectionRefusedError(111, "refused"))
    assert type(_mapped(exc, proxied=True)) is fe.ProxyError


def test_fetch_errors_and_foreign_errors_pass_through() -> None:
    own = fe.EgressRefused("no", url=URL)
    with pytest.raises(fe.EgressRefused) as info, fe.map_httpx_errors(URL):
        raise own
    assert info.value is own
    with pytest.raises(KeyError), fe.map_httpx_errors(URL):
        raise KeyError("programming error")


def test_kind_and_repr() -> None:
    err = fe.NameNotResolved("gone", url=URL)
    assert err.kind == "name_not_resolved"
    assert URL in repr(err)

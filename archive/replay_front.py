"""Our front on pywb: the WSGI wrapper that replay is served through (run in pywb's own env).

`python archive/replay_front.py -b HOST -p PORT` is pywb's `wayback` (same options, same
config: PYWB_CONFIG_FILE or ./config.yaml), with pywb's WSGI app wrapped in
`ReplayFront` before the server sees it. No second process, no second port that could be
reached around it. What the front changes, on every response:

- No `Set-Cookie` (nor `Set-Cookie2`, `Clear-Site-Data`) ever reaches a browser. An
  archived response is attacker-controlled content; pywb passes its cookies through
  (`id_` mode verbatim, the other modes rescoped to the replay host), and cookies ignore
  ports, so a replayed page could plant cookies for every service on that host name.
  pywb has no setting to drop them: its header rules are code (`DefaultHeaderRewriter`).
  Replay needs no cookies of its own.
- A 307 answer to a GET or HEAD becomes 302 Found. pywb hard-codes 307 for its TimeGate
  and its redirects to the exact memento; RFC 7089 (pattern 2) uses 302, and Memento
  clients (`memento_client`) accept only 302 or 200 from a TimeGate. For GET and HEAD
  the two codes mean the same; a 307 to a POST (pywb's POST replay) keeps its code.

This file imports only the standard library at module level (our tests import
`ReplayFront` from our own environment); pywb and gevent are imported in `main()`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["STRIPPED_HEADERS", "ReplayFront", "main"]

# Response headers a replayed page must never hand a browser.
STRIPPED_HEADERS = frozenset({"set-cookie", "set-cookie2", "clear-site-data"})

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ReplayFront:
    """WSGI middleware: drops cookie-setting headers; 307 → 302 for GET and HEAD."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        safe_method = environ.get("REQUEST_METHOD", "GET").upper() in ("GET", "HEAD")

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(k, v) for k, v in headers if k.lower() not in STRIPPED_HEADERS]
            if safe_method and status.startswith("307"):
                status = "302 Found"
            if exc_info is None:
                return start_response(status, kept)
            return start_response(status, kept, exc_info)

        return self.app(environ, start)


def main(argv: list[str] | None = None) -> None:
    """pywb's `wayback`, serving `ReplayFront(FrontEndApp)`."""
    from gevent.monkey import patch_all

    patch_all()
    from pywb.apps.cli import WaybackCli

    class FrontCli(WaybackCli):
        def load(self) -> ReplayFront:
            return ReplayFront(super().load())

    FrontCli(args=argv, default_port=8080, desc="pywb replay behind sourcevault's front").run()


if __name__ == "__main__":
    main(sys.argv[1:])

"""The naive baseline: for each URL in turn, fetch it with httpx and extract it with trafilatura.

`python -m bench.naive URLS_FILE --proxy http://127.0.0.1:PORT` prints one JSON line:
`{"urls": n, "ok": n, "extracted": n}`. No archive, no database, no concurrency: what a
researcher's first script does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx
import trafilatura


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", type=Path)
    parser.add_argument("--proxy", required=True)
    args = parser.parse_args(argv)
    urls = args.urls.read_text().split()
    ok = extracted = 0
    with httpx.Client(proxy=args.proxy, follow_redirects=True, timeout=30) as client:
        for url in urls:
            response = client.get(url)
            if response.status_code != 200:
                continue
            ok += 1
            if trafilatura.extract(response.text, url=url):
                extracted += 1
    sys.stdout.write(json.dumps({"urls": len(urls), "ok": ok, "extracted": extracted}) + "\n")


if __name__ == "__main__":
    main()

"""How `parse` grows with one incident's markers (issue #15.8): seconds per size, and the
ratio between consecutive sizes (2.0 when linear, 4.0 when quadratic).

    uv run python -m bench.parse_growth                    # 12,500 … 100,000 markers
    uv run python -m bench.parse_growth --sizes 25000,50000 --with-urls

`--with-urls` also lists every footnote with its own URL (canonicalisation then
dominates). Not part of the test suite: tests/unit/test_digest_parser.py counts
operations instead of timing them.
"""

from __future__ import annotations

import argparse
import time

from worker.digest.parse import parse_digest


def digest_text(markers: int, *, with_urls: bool) -> str:
    cited = "".join(f"[{i}]" for i in range(1, markers + 1))
    listed = range(1, markers + 1) if with_urls else range(1, 2)
    return f"September 3, Almaty, one incident {cited}.\n" + "\n".join(
        f"[{i}] https://a.kz/news/{i}" for i in listed
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="12500,25000,50000,100000")
    parser.add_argument("--with-urls", action="store_true")
    args = parser.parse_args(argv)
    previous: float | None = None
    print(f"{'markers':>8} {'seconds':>8} {'µs/marker':>10} {'ratio':>6}")
    for size in (int(s) for s in args.sizes.split(",")):
        text = digest_text(size, with_urls=args.with_urls)
        start = time.perf_counter()
        digest = parse_digest(text, name="growth", year=2021)
        seconds = time.perf_counter() - start
        assert len(digest.incidents[0].footnotes) == size
        ratio = f"{seconds / previous:.2f}" if previous else ""
        print(f"{size:>8} {seconds:>8.2f} {seconds / size * 1e6:>10.1f} {ratio:>6}")
        previous = seconds


if __name__ == "__main__":
    main()

"""Commands about one digest: parse, run, submit, status, report, robustify."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from archive.web.render import render_html
from schemas import Digest, Report
from worker import timings
from worker.cli.common import (
    BrokerOpt,
    DataDirOpt,
    DigestArg,
    YearOpt,
    app,
    cli_settings,
    console,
    fail,
    load_digest,
    printable,
)
from worker.collector import loading
from worker.report.build import current_report, render_csv, report_dir, write_report_files
from worker.store import jobs
from worker.store.engine import make_engine, make_session_factory


@app.command()
def parse(
    digest: DigestArg,
    year: YearOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the Digest as JSON")] = False,
) -> None:
    """Print the parsed digest and its problems."""
    parsed = load_digest(digest, year)
    if as_json:
        sys.stdout.write(parsed.model_dump_json(indent=2) + "\n")
        return
    out = Console()
    out.print(
        Text.assemble(
            (printable(parsed.title).plain, "bold"),
            f" ({printable(parsed.id).plain}): {len(parsed.incidents)} incidents, "
            f"{len(parsed.footnotes)} footnotes, {len(parsed.sources)} unique sources",
        )
    )
    table = Table("#", "line", "date", "footnotes", "people", "text")
    for inc in parsed.incidents:
        table.add_row(
            str(inc.id),
            str(inc.line),
            inc.date.isoformat() if inc.date else "?",
            " ".join(map(str, inc.footnotes)),
            printable(", ".join(inc.people)),
            printable(inc.text[:60] + ("…" if len(inc.text) > 60 else "")),
        )
    out.print(table)
    _print_problems(out, parsed)


def _print_problems(out: Console, parsed: Digest) -> None:
    if not parsed.problems:
        out.print("no problems")
        return
    out.print(f"[bold]{len(parsed.problems)} problems[/]")
    for p in parsed.problems:
        where = " ".join(
            x
            for x in (
                f"line {p.line}" if p.line else "",
                f"[{p.footnote}]" if p.footnote else "",
            )
            if x
        )
        out.print(printable(f"  {p.code:<20} {where:<14} {p.message}"))


@app.command()
def run(
    digest: DigestArg,
    year: YearOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="report dir [default: ./reports/<digest-id>/]")
    ] = None,
    data_dir: DataDirOpt = None,
    broker_url: BrokerOpt = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="capture tasks in flight")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="give up waiting after S")] = 3600,
) -> None:
    """Parse, queue every source, show progress, wait, and write the report."""
    settings = cli_settings(data_dir=data_dir, broker_url=broker_url, concurrency=concurrency)
    timings.mark(settings.timings_file, "command")  # imports done, the command begins
    parsed = load_digest(digest, year)
    console.print(
        f"{parsed.title}: {len(parsed.incidents)} incidents, {len(parsed.sources)} sources, "
        f"{len(parsed.problems)} digest problems"
    )
    with loading():  # Celery, the broker and the capture stack load when needed
        from worker.runs import RunFailed, run_digest

    progress = Progress(
        TextColumn("[bold]capturing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with progress:
        task = progress.add_task("capture", total=len(parsed.sources))

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            outcome = run_digest(
                settings, parsed, source_name=str(digest), on_progress=on_progress, timeout=timeout
            )
        except TimeoutError as exc:
            raise fail(str(exc), 1) from exc
        except RunFailed as exc:  # local storage or database: never a verdict on a link
            raise fail(str(exc), 1) from exc
        except OSError as exc:  # the data dir is unusable before anything ran
            raise fail(f"local storage failed: {type(exc).__name__}: {exc}", 1) from exc
    if outcome.resumed:
        console.print(f"resumed the unfinished run {outcome.run_id} (its process had died)")
    out_dir = out or Path("reports") / outcome.run_id
    files = _write_all(outcome.report, out_dir, sealed=report_dir(settings, outcome.run_id))
    _print_summary(outcome.report)
    for path in files.values():
        console.print(f"wrote {path}")
    timings.mark(settings.timings_file, "report_written")


def _write_all(report: Report, out_dir: Path, *, sealed: Path | None = None) -> dict[str, Path]:
    """report.json/csv copied byte for byte from `sealed` (what finalize wrote and the
    custody log hashed), written afresh where there is none; report.html rendered."""
    names = {"json": "report.json", "csv": "report.csv"}
    if sealed is not None and all((sealed / name).is_file() for name in names.values()):
        out_dir.mkdir(parents=True, exist_ok=True)
        files = {}
        for kind, name in names.items():
            if (out_dir / name).resolve() != (sealed / name).resolve():
                shutil.copyfile(sealed / name, out_dir / name)
            files[kind] = out_dir / name
    else:
        files = write_report_files(report, out_dir)
    html = out_dir / "report.html"
    html.write_text(render_html(report), encoding="utf-8")
    files["html"] = html
    return files


def _print_summary(report: Report) -> None:
    counts = report.digest.counts
    console.print(f"digest [bold]{report.digest.id}[/]")
    table = Table("status", "sources")
    for key in sorted(k for k in counts if k.startswith("status_")):
        table.add_row(key.removeprefix("status_"), str(counts[key]))
    console.print(table)
    verdicts = ", ".join(
        f"{k.removeprefix('verdict_')} {v}"
        for k, v in sorted(counts.items())
        if k.startswith("verdict_")
    )
    console.print(f"incidents: {verdicts}; captured {counts.get('captured', 0)} sources")


@app.command()
def submit(
    digest: DigestArg,
    year: YearOpt = None,
    data_dir: DataDirOpt = None,
    broker_url: BrokerOpt = None,
    interactive: Annotated[
        bool, typer.Option("--interactive", help="ahead of bulk work: an editor is waiting")
    ] = False,
    editor: Annotated[
        str, typer.Option("--editor", help="who queues it: fair shares between editors")
    ] = "",
) -> None:
    """Queue a digest on a deployment; prints the new digest id alone on its last line."""
    settings = cli_settings(data_dir=data_dir, broker_url=broker_url)
    if not settings.broker_url:
        raise fail("submit needs a broker: set SOURCEVAULT_BROKER_URL or --broker-url")
    parsed = load_digest(digest, year)
    from worker.queue.priorities import Kind
    from worker.runs import submit_digest

    kind = Kind.INTERACTIVE if interactive else Kind.BULK
    run_id = submit_digest(settings, parsed, source_name=str(digest), kind=kind, editor=editor)
    console.print(f"queued {len(parsed.sources)} sources")
    sys.stdout.write(run_id + "\n")


@app.command()
def status(
    run_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Progress of a submitted digest."""
    settings = cli_settings(data_dir=data_dir)
    sessions = make_session_factory(make_engine(settings.effective_database_url))
    with sessions() as session:
        progress = jobs.run_progress(session, run_id)
    if progress is None:
        raise fail(f"no digest with id {run_id!r}", 1)
    if as_json:
        data = {"state": progress.state, "done": progress.done, "total": progress.total}
        sys.stdout.write(json.dumps(data) + "\n")
    else:
        sys.stdout.write(f"{run_id}: {progress.state}, {progress.done}/{progress.total} done\n")


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(metavar="ID")],
    fmt: Annotated[str, typer.Option("--format", help="json, html or csv")] = "json",
    out: Annotated[Path | None, typer.Option("--out", help="file (default: stdout)")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Print or write the report of a digest."""
    if fmt not in ("json", "html", "csv"):
        raise fail(f"--format must be json, html or csv, not {fmt!r}")
    settings = cli_settings(data_dir=data_dir)
    sessions = make_session_factory(make_engine(settings.effective_database_url))
    with sessions() as session:
        try:
            built = current_report(session, settings, run_id)  # the sealed one, once sealed
        except KeyError as exc:
            raise fail(f"no digest with id {run_id!r}", 1) from exc
    text = {
        "json": lambda: built.model_dump_json(indent=2) + "\n",
        "csv": lambda: render_csv(built),
        "html": lambda: render_html(built),
    }[fmt]()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")


@app.command()
def robustify(
    run_id: Annotated[str, typer.Argument(metavar="ID")],
    fmt: Annotated[str, typer.Option("--format", help="html, md or docx")] = "html",
    out: Annotated[Path | None, typer.Option("--out", help="file (default: stdout)")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Write the digest back with every footnote a Robust Link to its archived copy."""
    from worker.report.robustify import Format, render

    try:
        chosen = Format(fmt)
    except ValueError as exc:
        raise fail(f"--format must be html, md or docx, not {fmt!r}") from exc
    if chosen is Format.DOCX and out is None:
        raise fail("--format docx needs --out FILE (it is not text)")
    settings = cli_settings(data_dir=data_dir)
    sessions = make_session_factory(make_engine(settings.effective_database_url))
    with sessions() as session:
        try:
            document = render(current_report(session, settings, run_id), chosen)
        except KeyError as exc:
            raise fail(f"no digest with id {run_id!r}", 1) from exc
    if out is None:
        sys.stdout.write(document.decode("utf-8"))
    else:
        out.write_bytes(document)
        console.print(f"wrote {out}")

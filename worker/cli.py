"""The `sourcevault` command line (typer). Thin: every command calls plain functions."""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from archive.web.render import render_html
from schemas import Digest, Report
from worker.digest.parse import MAX_YEAR, MIN_YEAR, parse_digest
from worker.digest.read import DigestInputError, read_digest_file
from worker.report.build import current_report, render_csv, report_dir, write_report_files
from worker.settings import Settings, SettingsError, load_settings
from worker.store import jobs
from worker.store.engine import make_engine, make_session_factory

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Archive and verify the sources of a human-rights monitoring digest.",
)
console = Console(stderr=True)
log = logging.getLogger("sourcevault")

DigestArg = Annotated[Path, typer.Argument(help="the digest text file", show_default=False)]
YearOpt = Annotated[
    int | None,
    typer.Option(
        "--year",
        min=MIN_YEAR,
        max=MAX_YEAR,
        help=f"year for dates written without one ({MIN_YEAR}..{MAX_YEAR})",
    ),
]
# C0 and C1 controls (ESC starts ANSI sequences), DEL, and bidirectional controls: shown
# escaped, never sent to the terminal (digest text is untrusted input)
_UNPRINTABLE_RE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> Text:
    """`text` as a rich Text (no markup) with every control character escaped (`\\x1b`)."""
    return Text(_UNPRINTABLE_RE.sub(lambda m: repr(m.group())[1:-1], text))


DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="WARCs and database [env SOURCEVAULT_DATA_DIR]")
]
BrokerOpt = Annotated[
    str | None,
    typer.Option("--broker-url", help="Celery broker [env SOURCEVAULT_BROKER_URL]"),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise _fail(str(exc)) from exc


def _load_digest(path: Path, year: int | None) -> Digest:
    try:
        text = read_digest_file(path)
    except FileNotFoundError as exc:
        raise _fail(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise _fail(f"{path}: is a directory, not a digest file") from exc
    except DigestInputError as exc:
        raise _fail(f"{path}: {exc}") from exc
    return parse_digest(text, name=path.stem, year=year)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def parse(
    digest: DigestArg,
    year: YearOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the Digest as JSON")] = False,
) -> None:
    """Print the parsed digest and its problems."""
    parsed = _load_digest(digest, year)
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
    settings = _settings(data_dir=data_dir, broker_url=broker_url, concurrency=concurrency)
    parsed = _load_digest(digest, year)
    console.print(
        f"{parsed.title}: {len(parsed.incidents)} incidents, {len(parsed.sources)} sources, "
        f"{len(parsed.problems)} digest problems"
    )
    from worker.runs import RunFailed, run_digest  # Celery and the broker load when needed

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
            raise _fail(str(exc), 1) from exc
        except RunFailed as exc:  # local storage or database: never a verdict on a link
            raise _fail(str(exc), 1) from exc
        except OSError as exc:  # the data dir is unusable before anything ran
            raise _fail(f"local storage failed: {type(exc).__name__}: {exc}", 1) from exc
    if outcome.resumed:
        console.print(f"resumed the unfinished run {outcome.run_id} (its process had died)")
    out_dir = out or Path("reports") / outcome.run_id
    files = _write_all(outcome.report, out_dir, sealed=report_dir(settings, outcome.run_id))
    _print_summary(outcome.report)
    for path in files.values():
        console.print(f"wrote {path}")


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
    settings = _settings(data_dir=data_dir, broker_url=broker_url)
    if not settings.broker_url:
        raise _fail("submit needs a broker: set SOURCEVAULT_BROKER_URL or --broker-url")
    parsed = _load_digest(digest, year)
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
    settings = _settings(data_dir=data_dir)
    sessions = make_session_factory(make_engine(settings.effective_database_url))
    with sessions() as session:
        progress = jobs.run_progress(session, run_id)
    if progress is None:
        raise _fail(f"no digest with id {run_id!r}", 1)
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
        raise _fail(f"--format must be json, html or csv, not {fmt!r}")
    settings = _settings(data_dir=data_dir)
    sessions = make_session_factory(make_engine(settings.effective_database_url))
    with sessions() as session:
        try:
            built = current_report(session, settings, run_id)  # the sealed one, once sealed
        except KeyError as exc:
            raise _fail(f"no digest with id {run_id!r}", 1) from exc
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
        raise _fail(f"--format must be html, md or docx, not {fmt!r}") from exc
    if chosen is Format.DOCX and out is None:
        raise _fail("--format docx needs --out FILE (it is not text)")
    settings = _settings(data_dir=data_dir)
    sessions = make_session_factory(make_engine(settings.effective_database_url))
    with sessions() as session:
        try:
            document = render(current_report(session, settings, run_id), chosen)
        except KeyError as exc:
            raise _fail(f"no digest with id {run_id!r}", 1) from exc
    if out is None:
        sys.stdout.write(document.decode("utf-8"))
    else:
        out.write_bytes(document)
        console.print(f"wrote {out}")


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-c")] = None,
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="consumed in this order (worker.queue.priorities)")
    ] = "interactive,default,capture",
    pool: Annotated[
        str,
        typer.Option(
            "--pool",
            help="threads (one process, one WARC file) or prefork; only prefork enforces "
            "Celery's hard time limit, threads rely on the fetcher's wall-clock deadline",
        ),
    ] = "threads",
    data_dir: DataDirOpt = None,
    broker_url: BrokerOpt = None,
) -> None:
    """Run a Celery worker against the configured broker."""
    settings = _settings(data_dir=data_dir, broker_url=broker_url, concurrency=concurrency)
    broker = settings.broker_url
    if not broker:
        raise _fail("worker needs a broker: set SOURCEVAULT_BROKER_URL or --broker-url")
    if pool == "prefork" and settings.extract_processes is None:
        # prefork is already a process per task: a pool of extractors in each is waste
        settings = settings.model_copy(update={"extract_processes": 0})
    from worker.queue.app import configure

    celery = configure(settings, broker)
    celery.worker_main(
        [
            "worker",
            f"--concurrency={settings.concurrency}",
            f"--queues={queues}",
            f"--pool={pool}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    embedded: Annotated[
        bool,
        typer.Option("--embedded", help="no broker: start a private Valkey + in-process worker"),
    ] = False,
    replay: Annotated[bool, typer.Option("--replay/--no-replay", help="start pywb too")] = True,
    data_dir: DataDirOpt = None,
    broker_url: BrokerOpt = None,
) -> None:
    """Run the web app (editors queue, auditors read) and pywb replay."""
    settings = _settings(data_dir=data_dir, broker_url=broker_url)
    from archive.web.server import serve as run_server  # FastAPI loads only for `serve`

    run_server(settings, host=host, port=port, embedded=embedded, with_replay=replay)


@app.command()
def beat(
    data_dir: DataDirOpt = None,
    broker_url: BrokerOpt = None,
) -> None:
    """Run Celery beat: queue re-checks of due sources every recheck_every_minutes."""
    settings = _settings(data_dir=data_dir, broker_url=broker_url)
    if not settings.broker_url:
        raise _fail("beat needs a broker: set SOURCEVAULT_BROKER_URL or --broker-url")
    from worker.queue.app import configure

    celery = configure(settings, settings.broker_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery.start(
        ["beat", "--loglevel=INFO", f"--schedule={settings.data_dir / 'celerybeat-schedule'}"]
    )


@app.command()
def recheck(
    run_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="one digest run (default: all)")
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Re-check sources now, by hand: status, drift against the first capture, health."""
    settings = _settings(data_dir=data_dir)
    from worker.capture.recheck import recheck_run
    from worker.runtime import build_runtime

    runtime = build_runtime(settings)
    try:
        results = recheck_run(runtime, run_id)
    finally:
        runtime.close()
    if run_id is not None and not results:
        raise _fail(f"no fetched sources for digest {run_id!r}", 1)
    # URLs are what the editor acts on: wrap them whole, never cut them to "…"
    table = Table(Column("source", overflow="fold"), "status", "health", "changed", "similarity")
    for r in results:
        sim = f"{r.similarity:.1f}" if r.similarity is not None else ""
        table.add_row(r.canonical_url, r.status, r.state, "yes" if r.changed else "", sim)
    Console().print(table)


@app.command()
def attach(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID")],
    footnote: Annotated[int, typer.Argument(metavar="FOOTNOTE")],
    file: Annotated[Path, typer.Argument(metavar="FILE")],
    note: Annotated[str | None, typer.Option("--note", help="what the file shows")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Attach a file (screenshot, PDF, WARC, WACZ) to a footnote as manual evidence."""
    settings = _settings(data_dir=data_dir)
    from worker.capture.attachments import AttachError
    from worker.capture.attachments import attach as attach_file

    sessions = make_session_factory(make_engine(settings.effective_database_url))
    with sessions() as session:
        try:
            row = attach_file(session, settings.data_dir, run_id, footnote, file, note=note)
        except AttachError as exc:
            raise _fail(str(exc), 1) from exc
    sys.stdout.write(f"{row.sha256}  {row.path}\n")


def _add_web_users() -> None:
    from archive.web.users_cli import users_app

    app.add_typer(users_app, name="users")


_add_web_users()


@app.command()
def verify(
    wacz: Annotated[
        Path | None, typer.Option("--wacz", help="check this WACZ instead of the data dir")
    ] = None,
    tsa_ca: Annotated[
        Path | None, typer.Option("--tsa-ca", help="CA the timestamp tokens must chain to")
    ] = None,
    seal: Annotated[
        str | None,
        typer.Option(
            "--seal", metavar="RUN", help="first end a run whose process died and seal it"
        ),
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Offline: re-hash WARC records, check the custody log, seals and timestamps."""
    from worker.custody.audit import (
        SealRefused,
        audit_data_dir,
        audit_wacz,
        print_result,
        seal_unfinished,
    )

    settings = _settings(data_dir=data_dir, tsa_ca_file=tsa_ca)
    if seal is not None:
        try:
            typer.echo(seal_unfinished(settings, seal))
        except SealRefused as exc:
            raise _fail(str(exc), 1) from exc
    if wacz is not None:
        if not wacz.is_file():
            raise _fail(f"{wacz}: no such file")
        ca = settings.tsa_ca_file.read_bytes() if settings.tsa_ca_file else None
        result = audit_wacz(wacz, ca=ca)
    else:
        result = audit_data_dir(settings)
    raise typer.Exit(print_result(result, typer.echo))


@app.command()
def export(
    run_id: Annotated[str, typer.Argument(metavar="ID")],
    wacz: Annotated[Path, typer.Option("--wacz", help="the WACZ file to write")],
    data_dir: DataDirOpt = None,
) -> None:
    """Write one signed WACZ for a digest: its WARCs, CDXJ, pages, report, custody log.

    The package is signed per the WACZ signing spec with the data dir's ECDSA key
    (keys/wacz_ecdsa_p384); the custody log inside carries its own Ed25519 seal."""
    from archive.wacz import export_wacz  # logic in archive/wacz.py and worker/export.py
    from worker.custody import log as custody
    from worker.report.export import plan_export

    settings = _settings(data_dir=data_dir)
    sessions = make_session_factory(make_engine(settings.effective_database_url))
    key = custody.load_or_create_key(settings.data_dir)
    with sessions() as session:
        try:
            plan = plan_export(session, settings, run_id)
        except KeyError as exc:
            raise _fail(f"no digest with id {run_id!r}", 1) from exc
        extra = custody.export_custody(session, run_id, key=key, export_name=wacz.name).files()
    try:
        done = export_wacz(
            wacz,
            report=plan.report,
            archive_dir=settings.archive_dir,
            warc_files=plan.warc_files,
            key=custody.load_or_create_wacz_key(settings.data_dir),
            extra_files=extra,
        )
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc), 1) from exc
    console.print(
        f"wrote {done.path}: {len(done.warc_files)} WARC files, {done.pages} pages, "
        f"signed {done.package_hash} with key {done.key_fingerprint}"
    )


@app.command("verify-wacz")
def verify_wacz_cmd(
    wacz: Annotated[Path, typer.Argument(metavar="FILE", help="the WACZ to check")],
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="PEM public key the signature must be made with "
            "(the exporting data dir's keys/wacz_ecdsa_p384.pub.pem)",
        ),
    ] = None,
) -> None:
    """Offline: re-check every file hash, WARC record digest and the signature of a WACZ."""
    from cryptography.hazmat.primitives import serialization

    from archive.wacz import verify_wacz

    if not wacz.is_file():
        raise _fail(f"{wacz}: no such file")
    trusted = None
    if public_key is not None:
        try:
            pub = serialization.load_pem_public_key(public_key.read_bytes())
        except (OSError, ValueError) as exc:
            raise _fail(f"{public_key}: not a PEM public key: {exc}") from exc
        trusted = pub.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    result = verify_wacz(wacz, trusted_key=trusted)
    for problem in result.problems:
        typer.echo(f"MISMATCH {problem}")
    typer.echo(
        f"{wacz.name}: {result.checked_files} files, {result.checked_records} WARC records, "
        f"signing key {result.key_fingerprint or 'none'}: {'ok' if result.ok else 'FAILED'}"
    )
    raise typer.Exit(0 if result.ok else 1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

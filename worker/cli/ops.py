"""The long-running parts and the operator's commands: worker, serve, beat, recheck,
attach, verify, export, verify-wacz."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from worker.cli.common import BrokerOpt, DataDirOpt, app, cli_settings, console, fail
from worker.store.engine import make_engine, make_session_factory


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
    settings = cli_settings(data_dir=data_dir, broker_url=broker_url, concurrency=concurrency)
    broker = settings.broker_url
    if not broker:
        raise fail("worker needs a broker: set SOURCEVAULT_BROKER_URL or --broker-url")
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
    settings = cli_settings(data_dir=data_dir, broker_url=broker_url)
    from archive.web.server import serve as run_server  # FastAPI loads only for `serve`

    run_server(settings, host=host, port=port, embedded=embedded, with_replay=replay)


@app.command()
def beat(
    data_dir: DataDirOpt = None,
    broker_url: BrokerOpt = None,
) -> None:
    """Run Celery beat: queue re-checks of due sources every recheck_every_minutes."""
    settings = cli_settings(data_dir=data_dir, broker_url=broker_url)
    if not settings.broker_url:
        raise fail("beat needs a broker: set SOURCEVAULT_BROKER_URL or --broker-url")
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
    settings = cli_settings(data_dir=data_dir)
    from worker.capture.recheck import recheck_run
    from worker.runtime import build_runtime

    runtime = build_runtime(settings)
    try:
        results = recheck_run(runtime, run_id)
    finally:
        runtime.close()
    if run_id is not None and not results:
        raise fail(f"no fetched sources for digest {run_id!r}", 1)
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
    settings = cli_settings(data_dir=data_dir)
    from worker.capture.attachments import AttachError
    from worker.capture.attachments import attach as attach_file

    sessions = make_session_factory(make_engine(settings.effective_database_url))
    with sessions() as session:
        try:
            row = attach_file(session, settings.data_dir, run_id, footnote, file, note=note)
        except AttachError as exc:
            raise fail(str(exc), 1) from exc
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

    settings = cli_settings(data_dir=data_dir, tsa_ca_file=tsa_ca)
    if seal is not None:
        try:
            typer.echo(seal_unfinished(settings, seal))
        except SealRefused as exc:
            raise fail(str(exc), 1) from exc
    if wacz is not None:
        if not wacz.is_file():
            raise fail(f"{wacz}: no such file")
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
    from worker.custody import keys as custody_keys
    from worker.custody import seal as custody_seal
    from worker.report.export import plan_export

    settings = cli_settings(data_dir=data_dir)
    sessions = make_session_factory(make_engine(settings.effective_database_url))
    key = custody_keys.load_or_create_key(settings.data_dir)
    with sessions() as session:
        try:
            plan = plan_export(session, settings, run_id)
        except KeyError as exc:
            raise fail(f"no digest with id {run_id!r}", 1) from exc
        extra = custody_seal.export_custody(session, run_id, key=key, export_name=wacz.name).files()
    try:
        done = export_wacz(
            wacz,
            report=plan.report,
            archive_dir=settings.archive_dir,
            warc_files=plan.warc_files,
            key=custody_keys.load_or_create_wacz_key(settings.data_dir),
            extra_files=extra,
        )
    except (ValueError, FileNotFoundError) as exc:
        raise fail(str(exc), 1) from exc
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
        raise fail(f"{wacz}: no such file")
    trusted = None
    if public_key is not None:
        try:
            pub = serialization.load_pem_public_key(public_key.read_bytes())
        except (OSError, ValueError) as exc:
            raise fail(f"{public_key}: not a PEM public key: {exc}") from exc
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

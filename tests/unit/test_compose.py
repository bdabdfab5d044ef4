"""docker-compose.yml agrees with the code: commands the CLI has, settings the app knows.

There is no Docker engine on these machines, so the file is checked by reading it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from worker.cli import app as cli_app
from worker.queue.app import CAPTURE_QUEUE, DEFAULT_QUEUE, INTERACTIVE_QUEUE, WORKER_QUEUES
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# typer's click Group (typer may bundle its own click: duck-typed on purpose)
CLI: Any = typer.main.get_command(cli_app)


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the ["KEY=value"] form
        return dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


SOURCEVAULT_SERVICES = {
    name: svc for name, svc in SERVICES.items() if _command(svc)[:1] == ["sourcevault"]
}


def test_the_deployment_has_every_part() -> None:
    assert {"redis", "postgres", "worker", "worker-default", "beat", "web", "pywb"} <= set(SERVICES)
    assert {"worker", "beat", "serve"} <= {_command(s)[1] for s in SOURCEVAULT_SERVICES.values()}


@pytest.mark.parametrize("name", sorted(SOURCEVAULT_SERVICES))
def test_every_command_and_option_exists_in_the_cli(name: str) -> None:
    args = _command(SOURCEVAULT_SERVICES[name])[1:]
    command = CLI.commands.get(args[0])
    assert command is not None, f"{name}: `sourcevault {args[0]}` is not a CLI command"
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    used = [a.split("=", 1)[0] for a in args[1:] if a.startswith("-")]
    assert [o for o in used if o not in known] == [], f"{name}: options the CLI lacks"
    # and click accepts the whole line (types, values)
    command.make_context(args[0], args[1:], resilient_parsing=False)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_sourcevault_variable_is_a_setting(name: str) -> None:
    fields = set(Settings.model_fields)
    env = _env(SERVICES[name])
    unknown = [
        key
        for key in env
        if key.startswith("SOURCEVAULT_") and key.removeprefix("SOURCEVAULT_").lower() not in fields
    ]
    assert unknown == []


def _cli_default_queues() -> str:
    (param,) = [p for p in CLI.commands["worker"].params if "--queues" in p.opts]
    return str(param.default)


def _worker_queues() -> dict[str, list[str]]:
    out = {}
    for name, svc in SOURCEVAULT_SERVICES.items():
        args = _command(svc)
        if args[1] == "worker":
            queues = args[args.index("--queues") + 1] if "--queues" in args else None
            out[name] = (queues or _cli_default_queues()).split(",")
    return out


def test_every_routed_queue_has_a_worker() -> None:
    consumed = {q for queues in _worker_queues().values() for q in queues}
    assert {INTERACTIVE_QUEUE, CAPTURE_QUEUE, DEFAULT_QUEUE} <= consumed


def test_interactive_work_comes_first_wherever_it_is_consumed() -> None:
    # queue_order_strategy="priority": a worker polls its queues in the order given
    for name, queues in _worker_queues().items():
        if INTERACTIVE_QUEUE in queues:
            assert queues[0] == INTERACTIVE_QUEUE, name
    assert _cli_default_queues().split(",") == list(WORKER_QUEUES)
    assert WORKER_QUEUES[0] == INTERACTIVE_QUEUE


def test_redis_persists_the_queue_with_aof() -> None:
    command = _command(SERVICES["redis"])
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in SERVICES["redis"]["volumes"])


def test_workers_web_and_replay_share_the_data_volume() -> None:
    volumes = set(COMPOSE["volumes"])
    for name, svc in [*SOURCEVAULT_SERVICES.items(), ("pywb", SERVICES["pywb"])]:
        data_dir = _env(svc).get("SOURCEVAULT_DATA_DIR", _env(svc).get("VOLUME_DIR"))
        mounts = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
        assert data_dir in mounts, name
        assert mounts[data_dir] in volumes, name
    assert len({SOURCEVAULT_SERVICES[n]["volumes"][0] for n in SOURCEVAULT_SERVICES}) == 1


def test_the_servers_have_health_checks() -> None:
    for name in ("redis", "postgres", "worker", "web", "pywb"):
        assert "healthcheck" in SERVICES[name], name
    for name, svc in SOURCEVAULT_SERVICES.items():
        depends = svc.get("depends_on", {})
        assert depends.get("redis", {}).get("condition") == "service_healthy", name
        assert depends.get("postgres", {}).get("condition") == "service_healthy", name


def test_the_database_url_uses_the_installed_driver() -> None:
    url = _env(SERVICES["worker"])["SOURCEVAULT_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://")
    pytest.importorskip("psycopg")

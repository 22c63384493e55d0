"""The container deployment, checked without Docker.

`docker-compose.yml` must be valid against the Compose Specification (the schema vendored in
check-jsonschema, a dev dependency) and keep the promises the rest of the project relies on:
start order (database healthy, topics created), health checks, `--scale` without port
clashes, an image that runs as a non-root user, and an `observability` profile whose
Prometheus and Grafana load the same alert and dashboard files as Kubernetes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# The port each service listens on, as in coaching_devstack/services.py and the docs.
SERVICE_PORTS = {
    "users": 8001,
    "slots": 8002,
    "bookings": 8003,
    "stats": 8004,
    "gateway": 8000,
}
# Containers that run once and exit; everything else is long-running.
ONE_SHOT = {"topics"}
INFRASTRUCTURE = {"kafka", "postgres"}
# Started only with `--profile observability`.
OBSERVABILITY = {"prometheus", "grafana"}
OBSERVABILITY_DIR = ROOT / "deploy" / "observability"
# coaching_kit.cli lets uvicorn drain in-flight handlers for this long on SIGTERM.
UVICORN_GRACEFUL_SHUTDOWN_S = 20


def _load_compose() -> dict[str, Any]:
    # ruamel.yaml comes with check-jsonschema; its safe loader resolves the `<<: *anchor`
    # merge keys the file is built on, as Compose does.
    data: dict[str, Any] = YAML(typ="safe", pure=True).load(COMPOSE_FILE.read_text())
    return data


COMPOSE = _load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_SERVICES = sorted(set(SERVICES) - ONE_SHOT - INFRASTRUCTURE - OBSERVABILITY)


def _workspace_services() -> set[str]:
    """Every service package of the workspace (`services/<svc>/pyproject.toml`), but kit (a
    library)."""
    return {
        path.parent.name
        for path in (ROOT / "services").glob("*/pyproject.toml")
        if path.parent.name != "kit"
    }


def _duration_s(value: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value)
    assert parts, f"not a Compose duration: {value!r}"
    assert "".join(n + u for n, u in parts) == value, f"not a Compose duration: {value!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def _environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    if isinstance(env, list):  # the `- KEY=value` form
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _host_ports(service: str) -> list[str]:
    """The host side of each published port ('' when Docker picks an ephemeral one)."""
    published = []
    for port in SERVICES[service].get("ports", []):
        if isinstance(port, dict):  # long syntax
            published.append(str(port.get("published") or ""))
            continue
        spec = str(port).split("/", 1)[0]
        # [[host_ip:]host_port:]container_port; an IPv6 host_ip is bracketed.
        spec = re.sub(r"^\[[^\]]*\]:", "", spec)
        fields = spec.split(":")
        if len(fields) == 1:
            published.append("")
        else:
            published.append(fields[-2])
    return published


# --- the Compose Specification -----------------------------------------------------------


def test_compose_file_matches_the_compose_specification() -> None:
    schema_file = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    # The schema names its own draft ($schema); use the validator for that draft.
    validator_type = jsonschema.validators.validator_for(schema)
    validator_type.check_schema(schema)
    errors = sorted(
        validator_type(schema).iter_errors(COMPOSE),
        key=lambda error: [str(part) for part in error.path],
    )
    assert not errors, "\n".join(
        f"{'/'.join(map(str, error.path)) or '<root>'}: {error.message}" for error in errors
    )


def test_check_jsonschema_cli_accepts_the_compose_file() -> None:
    # The same check as a developer would type it: check-jsonschema's own YAML loading.
    result = subprocess.run(  # noqa: S603 (fixed arguments, our own interpreter)
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- what the services rely on -------------------------------------------------------------


def test_every_workspace_service_is_deployed_and_nothing_else() -> None:
    assert set(APP_SERVICES) == _workspace_services(), (
        "docker-compose.yml must have one block per services/<svc> package, as `users` has"
    )


def test_every_long_running_container_has_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"
        assert check.get("test"), f"{name}'s healthcheck has no test"


def test_one_shot_jobs_are_not_restarted() -> None:
    # `service_completed_successfully` waits for an exit; a restart policy would loop it.
    for name in ONE_SHOT:
        assert SERVICES[name].get("restart", "no") == "no", name


def test_app_services_start_after_the_database_and_the_topics() -> None:
    for name in APP_SERVICES:
        depends_on = SERVICES[name].get("depends_on")
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        assert depends_on.get("postgres", {}).get("condition") == "service_healthy", name
        topics = depends_on.get("topics", {}).get("condition")
        assert topics == "service_completed_successfully", name


def test_the_topics_job_waits_for_a_healthy_kafka_and_uses_the_shared_bootstrap() -> None:
    topics = SERVICES["topics"]
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert topics["image"] == SERVICES["users"]["image"], "topics runs the services' image"
    command = " ".join(topics["command"])
    assert "coaching_kit.topics_admin import ensure_topics" in command
    assert 'os.environ["KAFKA_BOOTSTRAP_SERVERS"]' in command
    assert _environment("topics")["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_app_services_scale_without_host_port_clashes() -> None:
    # `docker compose up --scale users=3` starts three containers from one block: a fixed
    # host port would be taken by the first. Ephemeral ('') or a range ('8001-8005') is fine.
    for name in APP_SERVICES:
        for host_port in _host_ports(name):
            assert host_port == "" or "-" in host_port, (
                f"{name} pins host port {host_port}; `--scale {name}=N` would fail"
            )
        assert "container_name" not in SERVICES[name], f"{name}: container_name breaks --scale"


def test_app_services_run_the_shared_image_migrate_then_serve() -> None:
    images = {SERVICES[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1, f"one image for every service, got {images}"
    for name in APP_SERVICES:
        service = SERVICES[name]
        assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile", name
        command = service["command"]
        assert command[:2] == ["sh", "-c"], name
        # `exec` makes the service itself the process that gets SIGTERM, not a shell.
        assert command[2] == (
            f"python -m coaching_{name} migrate && exec python -m coaching_{name} serve"
        ), name
        assert service["restart"] == "unless-stopped", name
        grace = _duration_s(service["stop_grace_period"])
        assert grace > UVICORN_GRACEFUL_SHUTDOWN_S, f"{name}: in-flight work is killed"


def test_app_service_environment() -> None:
    for name in APP_SERVICES:
        env = _environment(name)
        prefix = name.upper()
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
        assert env[f"{prefix}_DATABASE_URL"] == (
            f"postgresql+asyncpg://coaching:coaching@postgres:5432/coaching_{name}"
        )
        # Listening on loopback only would make the service unreachable from other containers.
        assert env[f"{prefix}_HTTP_HOST"] == "0.0.0.0", name  # noqa: S104
        assert f"{prefix}_LOG_LEVEL" in env, name
        # The shared healthcheck finds the port as the one variable ending in _HTTP_PORT.
        ports = {key: value for key, value in env.items() if key.endswith("_HTTP_PORT")}
        assert ports == {f"{prefix}_HTTP_PORT": str(SERVICE_PORTS[name])}, name


def test_app_healthcheck_asks_ready_without_curl() -> None:
    for name in APP_SERVICES:
        test = SERVICES[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], f"{name}: the slim image has no curl"
        assert "/ready" in test[3], name
        # Compile the one-liner: a typo would leave every replica "unhealthy" forever.
        compile(test[3], f"{name}-healthcheck", "exec")


def test_containers_of_our_image_are_locked_down() -> None:
    # The same posture as the Kubernetes pods: nothing in the image needs to write outside
    # /tmp, hold a capability or gain privileges.
    ours = [
        name for name, service in SERVICES.items() if service["image"] == SERVICES["users"]["image"]
    ]
    assert set(ours) == set(APP_SERVICES) | ONE_SHOT
    for name in ours:
        service = SERVICES[name]
        assert service["read_only"] is True, name
        assert any(str(mount).startswith("/tmp") for mount in service["tmpfs"]), name  # noqa: S108
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name


def test_app_services_have_memory_and_cpu_limits() -> None:
    for name in APP_SERVICES:
        limits = SERVICES[name]["deploy"]["resources"]["limits"]
        assert set(limits) == {"cpus", "memory"}, name


def test_topics_command_compiles() -> None:
    command = SERVICES["topics"]["command"]
    assert command[:2] == ["python", "-c"]
    compile(command[2], "topics", "exec")


def test_infrastructure() -> None:
    kafka = _environment("kafka")
    assert SERVICES["kafka"]["image"] == "apache/kafka:4.1.2"
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    advertised = kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert "PLAINTEXT://kafka:9092" in advertised
    assert "EXTERNAL://localhost:29092" in advertised
    assert "127.0.0.1:29092:29092" in SERVICES["kafka"]["ports"]
    for key, value in kafka.items():
        if key.endswith(("REPLICATION_FACTOR", "MIN_ISR")):
            assert value == "1", f"{key}: a single broker cannot hold more replicas"
    assert kafka["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"

    postgres = SERVICES["postgres"]
    assert postgres["image"] == "postgres:15"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    # Data lives on named volumes, declared at the top level, so `down` keeps it.
    for name, mount in (("kafka", "/var/lib/kafka/data"), ("postgres", "/var/lib/postgresql/data")):
        volumes = [str(volume) for volume in SERVICES[name]["volumes"]]
        named = [v.split(":", 1)[0] for v in volumes if v.split(":")[1] == mount]
        assert named, f"{name}: no volume at {mount}"
        assert named[0] in COMPOSE["volumes"], f"{name}: {named[0]} is not a named volume"


# --- the image -----------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined; heredoc bodies kept."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    heredoc_end: str | None = None
    for line in DOCKERFILE.read_text().splitlines():
        if heredoc_end is not None:
            if line.strip() == heredoc_end:
                heredoc_end = None
            continue
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        marker = re.search(r"<<-?'?\"?(\w+)", arguments)
        if marker:
            heredoc_end = marker.group(1)
    return instructions


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_image_runs_as_a_non_root_user() -> None:
    users = [arguments for keyword, arguments in _final_stage() if keyword == "USER"]
    assert users, "the final stage sets no USER: the services would run as root"
    user = users[-1].split(":", 1)[0]
    assert user not in {"root", "0"}, f"final USER is {users[-1]}"


def test_image_has_the_venv_and_no_build_tools() -> None:
    stage = _final_stage()
    text = "\n".join(f"{keyword} {arguments}" for keyword, arguments in stage)
    assert re.search(r"COPY --from=builder /app/\.venv /app/\.venv", text)
    assert any(k == "ENV" and "PATH=/app/.venv/bin:" in a for k, a in stage), "venv not on PATH"
    for tool in ("pip install", "apt-get install", "uv sync", "gcc"):
        assert tool not in text, f"the final stage installs or runs {tool!r}"


def test_image_installs_exactly_the_lock_without_dev_or_editable_packages() -> None:
    syncs = [a for k, a in _dockerfile_instructions() if k == "RUN" and "uv sync" in a]
    assert syncs, "the builder never runs uv sync"
    for sync in syncs:
        for flag in ("--frozen", "--no-dev", "--no-editable"):
            assert flag in sync, f"uv sync without {flag}: {sync}"
    assert any(k == "RUN" and "uv==0.13.8" in a for k, a in _dockerfile_instructions())


def test_build_context_leaves_out_local_state() -> None:
    patterns = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", ".git", ".stack", ".run", "bench/results", "**/__pycache__"):
        assert required in patterns, f".dockerignore misses {required}"


# --- the observability profile -------------------------------------------------------------


def _mounts(service: str) -> dict[str, Path]:
    """Container path -> the repository file or directory bind-mounted there."""
    mounts = {}
    for volume in SERVICES[service]["volumes"]:
        source, target, *_ = str(volume).split(":")
        if source.startswith("./"):
            mounts[target] = ROOT / source
    return mounts


def test_prometheus_and_grafana_start_only_with_the_observability_profile() -> None:
    for name, service in SERVICES.items():
        profiles = service.get("profiles", [])
        assert profiles == (["observability"] if name in OBSERVABILITY else []), name
    for name in OBSERVABILITY:
        for mount in _mounts(name).values():
            assert mount.exists(), f"{name} mounts {mount}, which does not exist"


def _prometheus_config() -> dict[str, Any]:
    mounts = _mounts("prometheus")
    data: dict[str, Any] = YAML(typ="safe", pure=True).load(
        mounts["/etc/prometheus/prometheus.yml"].read_text()
    )
    return data


def test_prometheus_evaluates_the_alerts_kubernetes_gets() -> None:
    mounts, config = _mounts("prometheus"), _prometheus_config()
    [rule_file] = config["rule_files"]
    assert mounts[rule_file] == OBSERVABILITY_DIR / "alerts.yml"


def test_prometheus_scrapes_every_replica_of_every_service_as_its_job() -> None:
    # DNS service discovery returns every container of a compose service: `--scale` needs
    # nothing here. `job` is the service's name, as the alerts and the dashboard expect.
    jobs = {job["job_name"]: job for job in _prometheus_config()["scrape_configs"]}
    assert set(jobs) == set(APP_SERVICES)
    for name, job in jobs.items():
        [discovery] = job["dns_sd_configs"]
        assert discovery == {"names": [name], "type": "A", "port": SERVICE_PORTS[name]}, name
        assert job.get("metrics_path", "/metrics") == "/metrics", name


def test_grafana_loads_the_dashboards_from_the_profiles_prometheus() -> None:
    mounts = _mounts("grafana")
    provisioning = mounts["/etc/grafana/provisioning"]
    yaml = YAML(typ="safe", pure=True)
    [source] = yaml.load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True
    [provider] = yaml.load((provisioning / "dashboards" / "coaching.yml").read_text())["providers"]
    assert mounts[provider["options"]["path"]] == OBSERVABILITY_DIR / "dashboards"
    assert SERVICES["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_observability_ports_are_on_loopback_only() -> None:
    for name in OBSERVABILITY:
        for port in SERVICES[name]["ports"]:
            assert str(port).startswith("127.0.0.1:"), (name, port)

"""Where coachctl looks for the platform, with nothing running: the global options before or
after the command, an environment file, the environment; `--help` without the platform's
code; `--version`; and the commands whose code comes with an extra.

`doctor --json` is the witness: every check names the address it tried, and with nothing
listening there each fails at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coaching_cli.main import app

COMPOSE_ENV_FILE = Path(__file__).resolve().parents[3] / "deploy" / "compose" / "coachctl.env"
# Addresses where nothing listens (port 1 is never served here), one per setting.
NOWHERE = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "COACHING_TOPIC_PREFIX": "",
    **{f"COACHCTL_{s}_URL": "http://127.0.0.1:1" for s in ("USERS", "SLOTS", "BOOKINGS", "STATS")},
    "DATABASE_URL": "postgresql://coaching:coaching@127.0.0.1:1/postgres",
}


@pytest.fixture(autouse=True)
def environment() -> Iterator[None]:
    """An env file is loaded into the process's environment: put it back after each test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _doctor(*args: str, **env: str) -> dict[str, str]:
    """What `doctor --json` tried, by check: the detail, which starts with the address."""
    result = CliRunner().invoke(app, list(args), env={**NOWHERE, **env})
    assert result.exit_code == 1, result.output
    return {check["name"]: check["detail"] for check in json.loads(result.stdout)}


# --- --help and --version ------------------------------------------------------------------

# Printed by the child after its help: which of these it imported.
_IMPORTED = """
import json, sys
from coaching_cli.main import app
try:
    app(sys.argv[1:], prog_name="coachctl")
except SystemExit as stop:
    assert stop.code in (0, None), stop.code
heavy = {"sqlalchemy", "aiokafka", "asyncpg", "httpx", "faststream", "dotenv", "pydantic",
         "coaching_kit", "coaching_contracts", "coaching_stats", "coaching_gateway"}
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & heavy)), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        *([group, "--help"] for group in ("user", "slot", "booking", "dlq", "stats", "topics")),
    ],
)
def test_help_imports_none_of_the_platforms_code(args: list[str]) -> None:
    # A fresh interpreter: this one has imported everything already. Nor pydantic, which
    # typer would import to convert the root options that were not given (options.py).
    ran = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
        [sys.executable, "-c", _IMPORTED, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert ran.returncode == 0, ran.stderr
    assert "Usage" in ran.stdout or "coachctl" in ran.stdout
    assert json.loads(ran.stderr.splitlines()[-1]) == [], "imported for --help"


def test_version_is_the_installed_packages() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"coachctl {version('coaching-cli')}\n")


# --- global options before and after the command -------------------------------------------


def test_global_options_are_read_before_and_after_the_command() -> None:
    options = ("--bootstrap", "127.0.0.1:2", "--stats-url", "http://127.0.0.1:3")
    before, after = _doctor(*options, "doctor", "--json"), _doctor("doctor", "--json", *options)
    for checks in (before, after):
        assert checks["kafka"].startswith("127.0.0.1:2: "), checks
        assert checks["stats"].startswith("http://127.0.0.1:3: "), checks
        assert checks["users"].startswith("http://127.0.0.1:1: "), checks


def test_an_option_after_the_command_overrides_the_same_one_before_it() -> None:
    checks = _doctor("--bootstrap", "127.0.0.1:2", "doctor", "--bootstrap", "127.0.0.1:3", "--json")
    assert checks["kafka"].startswith("127.0.0.1:3: "), checks


def test_a_global_option_after_a_command_of_a_group_is_read_too() -> None:
    result = CliRunner().invoke(
        app, ["topics", "describe", "--bootstrap", "127.0.0.1:2"], env=NOWHERE
    )
    assert result.exit_code == 1, result.output
    assert "127.0.0.1', 2" in result.output, result.output


# --- the environment file ------------------------------------------------------------------


def _env_file(tmp_path: Path) -> Path:
    path = tmp_path / "coachctl.env"
    path.write_text(
        "# a comment\nKAFKA_BOOTSTRAP_SERVERS=127.0.0.1:2\n"
        'COACHCTL_STATS_URL="http://127.0.0.1:3"\n'
        "DATABASE_URL=postgresql://coaching:coaching@127.0.0.1:4/postgres\n"
    )
    return path


def test_an_env_file_before_or_after_the_command_overrides_the_environment(tmp_path) -> None:
    path = str(_env_file(tmp_path))
    for args in (("--env-file", path, "doctor"), ("doctor", "--env-file", path)):
        checks = _doctor(*args, "--json")
        assert checks["kafka"].startswith("127.0.0.1:2: "), (args, checks)
        assert checks["stats"].startswith("http://127.0.0.1:3: "), (args, checks)
        assert checks["postgresql"].startswith("127.0.0.1:4: "), (args, checks)
        assert checks["users"].startswith("http://127.0.0.1:1: "), (args, checks)


def test_options_override_the_env_file(tmp_path) -> None:
    path = str(_env_file(tmp_path))
    checks = _doctor("--env-file", path, "doctor", "--json", "--bootstrap", "127.0.0.1:5")
    assert checks["kafka"].startswith("127.0.0.1:5: "), checks
    assert checks["stats"].startswith("http://127.0.0.1:3: "), checks


def test_coachctl_env_file_names_an_env_file_too(tmp_path) -> None:
    checks = _doctor("doctor", "--json", COACHCTL_ENV_FILE=str(_env_file(tmp_path)))
    assert checks["kafka"].startswith("127.0.0.1:2: "), checks


def test_a_missing_env_file_exits_2(tmp_path) -> None:
    for args, env in (
        (["--env-file", str(tmp_path / "nope.env"), "doctor"], {}),
        (["doctor"], {"COACHCTL_ENV_FILE": str(tmp_path / "nope.env")}),
    ):
        result = CliRunner().invoke(app, args, env={**NOWHERE, **env})
        assert result.exit_code == 2, result.output
        assert "nope.env" in result.output


def test_the_compose_env_file_points_at_the_compose_deployments_host_ports() -> None:
    checks = _doctor("--env-file", str(COMPOSE_ENV_FILE), "doctor", "--json")
    assert checks["kafka"].startswith("localhost:29092: "), checks
    assert checks["postgresql"].startswith("127.0.0.1:15432: "), checks
    for port, service in enumerate(("users", "slots", "bookings", "stats"), start=18001):
        assert checks[service].startswith(f"http://127.0.0.1:{port}: "), checks


# --- commands whose code comes with an extra ------------------------------------------------


@pytest.mark.parametrize(
    ("package", "args", "extra"),
    [
        ("coaching_stats", ["stats", "check"], "stats"),
        ("coaching_stats", ["stats", "rebuild"], "stats"),
        ("coaching_gateway", ["token", "--user", str(uuid.uuid4()), "--role", "COACH"], "token"),
    ],
)
def test_a_command_without_its_extra_says_which_to_install(
    monkeypatch: pytest.MonkeyPatch, package: str, args: list[str], extra: str
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # as if it were not installed
    result = CliRunner().invoke(app, args, env={**NOWHERE, "COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert f"pip install 'coaching-cli[{extra}]'" in result.output, result.output

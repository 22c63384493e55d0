"""The wheel as an integrator gets it: built from this folder, installed into a clean virtualenv
with nothing of this repository beside it, it imports, validates a command and builds its
headers, on the oldest pydantic it admits and on the newest."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONTRACTS = Path(__file__).resolve().parents[1]
UV = shutil.which("uv")
# The oldest pydantic the package says it works with (`pydantic>=2.11,<3` gives 2.11).
PYDANTIC_FLOOR = re.findall(r'"pydantic>=([0-9.]+)', (CONTRACTS / "pyproject.toml").read_text())
# Run by the venv's interpreter in isolated mode (-I): no PYTHONPATH, no working directory on
# the path, so only what the wheel installed can be imported.
INTEGRATOR = """
import json, uuid
import pydantic
import coaching_contracts
from coaching_contracts.envelope import command_headers
from coaching_contracts.registry import model_for

ids = {name: str(uuid.uuid4()) for name in ("bookingId", "slotId", "studentId")}
command = model_for("coaching.booking.create.v1").model_validate_json(json.dumps(ids))
headers = command_headers(command, source="/wheel-test")
print(json.dumps({
    "module": coaching_contracts.__file__, "pydantic": pydantic.VERSION,
    "subject": headers["ce_subject"], "bookingId": ids["bookingId"],
}))
"""


def _run(*command: str | Path) -> str:
    # Our own uv and interpreters, with fixed arguments.
    result = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, env=_env(), check=False
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def _env() -> dict[str, str]:
    """This process's environment, less what points at the repository's own virtualenv."""
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT"}
    return {name: value for name, value in os.environ.items() if name not in drop}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert UV, "uv is not on PATH (`make install` installs it)"
    out = tmp_path_factory.mktemp("dist")
    _run(UV, "build", "--wheel", "--out-dir", out, CONTRACTS)
    (built,) = out.glob("coaching_contracts-*.whl")
    return built


@pytest.mark.timeout(90)
@pytest.mark.parametrize("resolution", ["lowest-direct", "highest"])
def test_the_wheel_alone_validates_a_command_in_a_clean_virtualenv(wheel, tmp_path, resolution):
    assert UV
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    _run(UV, "venv", "--quiet", "--python", sys.executable, venv)
    # pydantic named too, so that `lowest-direct` installs the oldest the wheel admits.
    install = (UV, "pip", "install", "--quiet", "--python", python, "--resolution", resolution)
    _run(*install, wheel, "pydantic")

    seen = json.loads(_run(python, "-I", "-c", INTEGRATOR))

    assert Path(seen["module"]).is_relative_to(venv)
    assert seen["subject"] == seen["bookingId"]
    if resolution == "lowest-direct":
        assert [seen["pydantic"].removesuffix(".0")] == PYDANTIC_FLOOR

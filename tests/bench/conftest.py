import importlib.util
import sys
from pathlib import Path

# The harness is a directory of the repository (`python -m bench.run` from its root), not an
# installed package; `.venv/bin/pytest` started elsewhere would not find it.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# These two run the harness itself, which plots with matplotlib from the `bench` dependency
# group: `make test-bench` installs it and runs them (CI does). Without it they are not
# collected at all, rather than reported as skipped by `make test` and the unit runs.
if importlib.util.find_spec("matplotlib") is None:
    collect_ignore = ["test_bench_smoke.py", "test_gateway.py"]

import sys
from pathlib import Path

# The harness is a directory of the repository (`python -m bench.run` from its root), not an
# installed package; `.venv/bin/pytest` started elsewhere would not find it.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

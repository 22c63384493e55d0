"""The short chaos run of `make test`: load under one of each fault, then every invariant.

It runs the real runner (`python -m coaching_chaos.run --short`) as an operator would, on
its private stack, and requires its report to be clean: nothing lost, duplicated,
double-booked, stuck, unpublished or miscounted, and every fault recovered from.
"""

import subprocess
import sys

import pytest

from coaching_chaos.arena import ROOT


@pytest.mark.stack  # it starts its own stack: not a fast test
@pytest.mark.chaos  # run by `make chaos-short` and by `make test`
@pytest.mark.timeout(900)
def test_a_short_chaos_run_keeps_every_invariant():
    run = subprocess.run(
        [sys.executable, "-m", "coaching_chaos.run", "--short", "--duration", "90", "--rate", "10"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        check=False,
    )
    report = run.stdout + "\n--- stderr (tail) ---\n" + run.stderr[-6000:]
    assert run.returncode == 0, report
    assert "NOT RECOVERED" not in report
    assert "faults injected: 8" in report

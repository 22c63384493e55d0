"""Which service to scale, and to how many replicas: `--replicas auto` picks the service that
used the most CPU in the saturating burst (the bottleneck) and runs it with two; `off` skips
the scaling run; `bookings=2,stats=2` names the replica counts.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from coaching_contracts.topics import SERVICES


def parse(spec: str) -> str:
    """argparse type: the spec, validated now so a typo fails before a ten-minute run."""
    if spec in ("auto", "off"):
        return spec
    try:
        plan = _named(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{spec!r}: {exc}") from exc
    if not plan:
        raise argparse.ArgumentTypeError(f"{spec!r}: name at least one service=count")
    return spec


def _named(spec: str) -> dict[str, int]:
    plan = {}
    for part in filter(None, spec.split(",")):
        service, _, count = part.partition("=")
        if service not in SERVICES or not count.isdigit() or int(count) < 1:
            raise ValueError(f"expected service=count with a service of {', '.join(SERVICES)}")
        plan[service] = int(count)
    return plan


def busiest(usage: dict[str, dict[str, Any]]) -> str:
    """The service whose processes used the most CPU seconds (replicas summed)."""
    seconds: Counter[str] = Counter()
    for name, figures in usage.items():
        service = name.split("#")[0]
        if service in SERVICES:
            seconds[service] += figures["cpu_s"]
    return seconds.most_common(1)[0][0]


def scale_plan(spec: str, saturation: dict[str, Any]) -> dict[str, int]:
    """The replica count per service for the scaling run; empty for none."""
    if spec == "off":
        return {}
    if spec == "auto":
        return {busiest(saturation["usage"]): 2}
    return _named(spec)


def label(plan: dict[str, int]) -> str:
    return ", ".join(f"{service} x{count}" for service, count in plan.items())

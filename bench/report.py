"""What a run prints and keeps: a header (machine, servers, PostgreSQL settings), tables on
the terminal, the results as JSON (`<stamp>.json` and `latest.json`) and a plot of latency
against offered load (`.png`). The closing lines are `bench.headline`'s."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on these machines

import matplotlib.pyplot as plt
from rich.console import Console
from rich.table import Table

from bench.meta import settings_line

Results = dict[str, Any]


def _f(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _pcts(figures: dict[str, Any], keys: tuple[str, ...] = ("p50", "p95", "p99")) -> str:
    return " / ".join(_f(figures.get(k), 0 if (figures.get(k) or 0) >= 100 else 1) for k in keys)


def baselines(results: Results) -> Table:
    table = Table(title="Baselines", title_justify="left")
    for column in ("measure", "rate", "latency p50 / p95 / p99 ms", "notes"):
        table.add_column(column)
    mono, kafka = results["monolith"], results["kafka"]
    table.add_row(
        f"monolith, {mono['connections']} connections",
        f"{_f(mono['bookings_per_s'])} bookings/s",
        _pcts(mono["latency_ms"]),
        f"{_f(mono['transactions_per_s'])} transactions/s, {mono['rejected']} taken slots",
    )
    table.add_row("kafka produce", f"{_f(kafka['produce_per_s'])} records/s", "", "")
    table.add_row(
        "kafka consume",
        f"{_f(kafka['consume_per_s'])} records/s",
        "",
        f"{kafka['records']:,} records of {kafka['record_bytes']} B",
    )
    return table


def phases(results: Results) -> Table:
    table = Table(title="End to end (rates per second, times in ms)", title_justify="left")
    columns = ("phase", "requests", "offered", "outcomes", "confirmed", "stats applied")
    for column in (*columns, "command→confirmed p50/p95/p99", "stats lag p50/p99"):
        table.add_column(column, justify="left" if column == "phase" else "right", no_wrap=True)
    for phase in results["phases"]:
        table.add_row(
            phase["name"],
            f"{phase['commands']:,}",
            _f(phase["offered_per_s"]),
            _f(phase["outcomes_per_s"]),
            _f(phase["confirmed_per_s"]),
            _f(phase["stats_applied_per_s"]),
            _pcts(phase["latency_ms"]),
            _pcts(phase["stats_lag_ms"], ("p50", "p99")),
        )
    return table


def gateway(results: Results) -> Table | None:
    """Both paths of the gateway phase and their difference; None when it did not run."""
    found = results.get("gateway")
    if not found:
        return None
    table = Table(
        title=f"Through the gateway: {found['rounds']:,} bookings each way, alternating,"
        " one at a time (ms)",
        title_justify="left",
    )
    for column in ("path", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="left" if column == "path" else "right", no_wrap=True)
    for label, key in (
        ("POST /v1/bookings → 201 (read model holds it)", "http_ms"),
        ("CreateBooking on Kafka → booking.confirmed consumed", "kafka_ms"),
        ("added by the gateway", "added_ms"),
    ):
        figures = found[key]
        table.add_row(label, *(_f(figures.get(k), 1) for k in ("p50", "p95", "p99", "max")))
    return table


def usage(results: Results) -> Table:
    """Baselines, the idle window and the timed phases side by side (not the warm-up), the
    gateway phase last; the platform's processes, their total, then the harness apart (it
    is in no total)."""
    table = Table(
        title="CPU % of one core / peak MB (PostgreSQL: PSS at the phase's start and end)",
        title_justify="left",
    )
    table.add_column("process", no_wrap=True)
    columns = [("monolith", results["monolith"]["usage"]), ("kafka raw", results["kafka"]["usage"])]
    columns.append(("idle", results["idle"]["usage"]))
    columns += [(p["name"], p["usage"]) for p in results["phases"] if p["name"] != "warm-up"]
    if results.get("gateway"):
        columns.append(("gateway phase", results["gateway"]["usage"]))
    for name, _ in columns:
        table.add_column(name, justify="right")
    processes = sorted({n for _, used in columns for n in used}, key=_process_order)
    for process in (p for p in processes if p != "harness"):
        cells = [used.get(process) for _, used in columns]
        table.add_row(process, *(_cpu_mb(c) for c in cells))
    table.add_row("platform total", *(_f(_total_pct(used)) for _, used in columns), style="bold")
    table.add_section()
    harness = [used.get("harness") for _, used in columns]
    table.add_row("harness (not in totals)", *(_cpu_mb(c) for c in harness))
    return table


def _cpu_mb(cell: dict[str, Any] | None) -> str:
    return f"{cell['cpu_pct']:.0f} / {cell['peak_mb']:.0f}" if cell else ""


def _total_pct(used: dict[str, dict[str, Any]]) -> float | None:
    """Services, Kafka and PostgreSQL: the CPU share that cpu ms per booking counts."""
    platform = {n: u for n, u in used.items() if n != "harness"}
    return sum(u["cpu_pct"] or 0 for u in platform.values()) if platform else None


def _process_order(name: str) -> tuple[int, str]:
    order = ("users", "slots", "bookings", "stats", "gateway", "kafka", "postgres", "harness")
    base = name.split("#")[0]
    return (order.index(base) if base in order else len(order), name)


def header(results: Results) -> list[str]:
    """Where the run ran: the machine, the servers, their settings, what CPU is counted."""
    meta = results["meta"]
    host, servers, pids = meta["host"], meta["servers"], meta["measured_pids"]
    load = ", ".join(f"{n:.2f}" for n in host["load_average_before"])
    servers_measured = [
        f"{name} pid {pids[name]}" for name in ("kafka", "postgres") if name in pids
    ]
    remote = [name for name in ("kafka", "postgres") if name not in pids]
    return [
        f"bench {meta['stamp']} on {host['cpus']} cores (load average before {load}),"
        f" code {meta['git']}",
        f"postgres {servers['postgres']}: {settings_line(meta['postgres'])}"
        " (COACHING_STACK_DURABLE=1 python -m coaching_devstack up makes the local stack durable)",
        f"kafka {servers['kafka']}; CPU counted per process: the services, "
        + ", ".join(servers_measured)
        + " (postgres with all its children)"
        + (f"; NOT counted, not on this machine: {', '.join(remote)}" if remote else "")
        + f"; the harness (pid {pids['harness']}) apart",
    ]


def render(results: Results, console: Console | None = None) -> None:
    console = console or Console(width=max(150, shutil.get_terminal_size().columns))
    for line in header(results):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    for table in (baselines(results), phases(results), gateway(results), usage(results)):
        if table is not None:
            console.print(table)
    peak = results["peak"]
    console.print(
        f"peak: {_f(peak['confirmed_per_s'])} confirmed bookings/s "
        f"({_f(peak['commands_per_s'])} requests/s), from the saturating burst"
    )
    for run in (results.get("scaling") or {}).get("runs", []):
        console.print(f"  {run['label']}: {_f(run['confirmed_per_s'])} confirmed bookings/s")
    console.print(f"invariant checker: {'passed' if results['check']['ok'] else 'FAILED'}")


def write(results: Results, directory: Path, stamp: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, default=str)
    paths = [directory / f"{stamp}.json", directory / "latest.json"]
    for path in paths:
        path.write_text(text)
    plot = directory / f"{stamp}.png"
    _plot(results, plot)
    shutil.copyfile(plot, directory / "latest.png")
    return [paths[0], plot]


def _plot(results: Results, path: Path) -> None:
    runs = sorted(
        (p for p in results["phases"] if p["target_per_s"]), key=lambda p: p["offered_per_s"] or 0
    )
    figure, axes = plt.subplots(figsize=(8, 5))
    offered = [p["offered_per_s"] for p in runs]
    for key, label, style in (("p50", "p50", "o-"), ("p99", "p99", "s-")):
        axes.plot(
            offered, [p["latency_ms"][key] for p in runs], style, label=f"command→confirmed {label}"
        )
    axes.plot(offered, [p["stats_lag_ms"]["p99"] for p in runs], "^--", label="stats lag p99")
    axes.axvline(results["peak"]["commands_per_s"], color="grey", linestyle=":", label="saturation")
    axes.set_xlabel("offered load (booking requests/s)")
    axes.set_ylabel("ms")
    axes.set_yscale("log")
    axes.set_title(f"Latency against load (ratio e2e/monolith {results['ratio']:.2f})")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)

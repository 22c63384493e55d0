"""The stack as a whole: up (idempotent), down, reset, status, and its connection settings.

Test fixtures reach `ensure_up` through the `coaching_kit.local_stack` entry point (kit does
not depend on this package; this package depends on kit). Whole commands hold the stack
dir's lock, so parallel test workers that all call `ensure_up` at once start it once.
"""

from __future__ import annotations

import shutil
import time
from urllib.parse import urlsplit

from coaching_devstack import kafka, postgres, tls
from coaching_devstack.config import Config
from coaching_devstack.processes import exclusive, run_async, say
from coaching_kit.topics_admin import ensure_topics


def stack_env(cfg: Config | None = None) -> dict[str, str]:
    """The connection settings of the stack, as environment variables."""
    cfg = cfg or Config.from_env()
    env = {"KAFKA_BOOTSTRAP_SERVERS": cfg.bootstrap, "DATABASE_URL": cfg.database_url}
    if tls.auth_listeners_on(cfg):
        env.update(tls.listener_env(cfg))
    return env


def _bring_up(cfg: Config) -> None:
    # A taken port fails at once, before initdb and before a JVM boots for nothing.
    postgres.check_port(cfg)
    # Kafka first but without waiting: its JVM boots while PostgreSQL is being set up.
    launched: int | None = None
    kafka_did = "external"
    if not cfg.external_kafka:
        tls.make_certificates(cfg)  # before the broker that serves them starts
        launched, kafka_did = kafka.up(cfg)
    try:
        say(f"postgres: {postgres.up(cfg)}")
        for item in postgres.ensure_role_and_databases(cfg):
            say(f"postgres: created {item}")
        run_async(kafka.wait_ready(cfg, cfg.bootstrap, launched=launched))
    except BaseException:
        # A broker launched by a failed `up` would linger unnoticed, holding its ports.
        if not kafka_did.startswith(("external", "already running")):
            kafka.stop(cfg)
        raise
    say(f"kafka: {kafka_did} at {cfg.bootstrap}")
    if tls.auth_listeners_on(cfg):
        run_async(tls.ensure_auth_listeners(cfg))
        say(tls.listeners_line(cfg))
    # The contract's topics, with the partitions and config it asks for (FastStream would
    # auto-create them with the broker's defaults on first use).
    created = run_async(ensure_topics(cfg.bootstrap))
    if created:
        say(f"kafka: created topics {', '.join(created)}")


def ensure_up() -> dict[str, str]:
    """Brings the stack up (idempotent) and returns its connection settings."""
    cfg = Config.from_env()
    started = time.monotonic()
    with exclusive(cfg.lock_file):
        _bring_up(cfg)
    say(f"up in {time.monotonic() - started:.1f} s")
    return stack_env(cfg)


def _stop_ours(cfg: Config) -> None:
    say("kafka: stopped" if kafka.stop(cfg) else "kafka: not running")
    say("postgres: stopped" if postgres.stop(cfg) else "postgres: not running")


def down() -> None:
    """Stops our servers (whatever the environment says); harmless when nothing runs."""
    cfg = Config.from_env()
    with exclusive(cfg.lock_file):
        _stop_ours(cfg)


def reset() -> None:
    """Stops the stack and deletes its data, keeping the Kafka jars that install.sh built."""
    cfg = Config.from_env()
    with exclusive(cfg.lock_file):
        _stop_ours(cfg)
        # The held lock file stays: deleting it would let another process lock a new one.
        doomed = [p for p in cfg.stack_dir.glob("*") if p not in (cfg.kafka_dir, cfg.lock_file)]
        doomed += [p for p in cfg.kafka_dir.glob("*") if p != cfg.kafka_lib]
        for path in doomed:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    say(f"deleted the data under {cfg.stack_dir} (kept {cfg.kafka_lib})")


def status() -> bool:
    """Reports what runs; returns whether PostgreSQL and Kafka both answer."""
    cfg = Config.from_env()
    pg_ok = postgres.ready(cfg)
    if cfg.external_database_url:
        pg_who = "external"
    else:
        pg_who = "ours" if postgres.running(cfg) else "not ours" if pg_ok else "not running"
    pg_where = urlsplit(cfg.database_url).netloc.rpartition("@")[2]
    say(f"postgres: {pg_where} {'ready' if pg_ok else 'not answering'} ({pg_who})")
    kafka_ok = run_async(kafka.refusal(cfg.bootstrap)) is None
    if cfg.external_kafka:
        kafka_who = "external"
    else:
        pid = kafka.pid(cfg)
        kafka_who = f"ours, pid {pid}" if pid else "not ours" if kafka_ok else "not running"
    say(f"kafka: {cfg.bootstrap} {'ready' if kafka_ok else 'not answering'} ({kafka_who})")
    if tls.auth_listeners_on(cfg):
        say(tls.listeners_line(cfg))
    return pg_ok and kafka_ok

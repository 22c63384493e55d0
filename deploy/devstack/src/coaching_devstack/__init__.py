"""The no-Docker development stack: Kafka from Maven Central jars and PostgreSQL from the
distribution's server binaries, each keeping its state under `.stack/` (COACHING_STACK_DIR),
and the platform's services run in the background on them.

    python -m coaching_devstack up|down|status|env|reset
    python -m coaching_devstack services up|down|status

Environment knobs:

    DATABASE_URL             use this PostgreSQL server (an admin URL) instead of our own
    KAFKA_BOOTSTRAP_SERVERS  use this Kafka instead of our own
    PGPORT                   port of our PostgreSQL (default 5432; `up` names a free one
                             when another server holds it). `env`, the services that
                             `services up` starts and the test fixtures follow it
    KAFKA_PORT               port of our Kafka (default 9092); its controller listens on +1,
                             SASL_PLAINTEXT with SCRAM-SHA-512 on +2, SSL (client
                             certificates required) on +3: `env` prints them
    COACHING_STACK_DURABLE   1: PostgreSQL keeps fsync on (a stack that is crashed on purpose)
    COACHING_RUN_DIR         the services' pid files and logs (default .run/)

install.sh (beside this package) installs what the stack needs and builds Kafka's classpath.
Modules: config (directories, ports), processes (commands, pids, the lock), postgres, kafka,
tls (the authenticated listeners), stack (the whole: up, down, reset, status), services.
"""

#!/usr/bin/env bash
# Installs what the local stack (the coaching_devstack package beside it) needs, without Docker:
# PostgreSQL server binaries, Java >= 17, Maven, uv, and the Kafka broker's jars.
# Idempotent and quick when everything is already there. It does not run `uv sync`:
# the Makefile does that.
#
#   COACHING_STACK_DIR  where the stack keeps its state (default: <repo>/.stack)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${COACHING_STACK_DIR:-$REPO_ROOT/.stack}"
KAFKA_POM="$REPO_ROOT/deploy/devstack/kafka/pom.xml"
KAFKA_LIB="$STACK_DIR/kafka/lib"
# Lives inside the lib dir, so deleting the jars also forgets that they were built.
KAFKA_STAMP="$KAFKA_LIB/.pom.sha256"
UV_VERSION="0.13.8"

log() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

# apt-get update is slow, so it runs only once and only when a package must be installed.
APT_UPDATED=""
apt_install() {
    local sudo=""
    if [[ $EUID -ne 0 ]]; then
        command -v sudo >/dev/null || die "need root (or sudo) to apt-get install $*"
        sudo="sudo"
    fi
    if [[ -z $APT_UPDATED ]]; then
        $sudo apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

ensure_postgres() {
    if compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
        return
    fi
    apt_install postgresql postgresql-contrib
}

# The java that the stack runs: $JAVA_HOME's if set (as Kafka's own scripts do), else PATH's.
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

java_major() {
    # `java -version` prints e.g. 'openjdk version "17.0.15" ...' (or "1.8.0_x" for Java 8).
    local version=""
    if command -v "$JAVA" >/dev/null; then
        version="$("$JAVA" -version 2>&1 | sed -nE '1s/.*version "(1\.)?([0-9]+).*/\2/p')"
    fi
    echo "${version:-0}"
}

ensure_java() {
    if (( $(java_major) < 17 )); then
        apt_install openjdk-17-jre-headless
    fi
    local major
    major="$(java_major)"
    (( major > 0 )) || die "no $JAVA after installing Java 17 (is JAVA_HOME wrong?)"
    (( major >= 17 )) || die "$JAVA is Java $major; Kafka 4 needs >= 17 (JAVA_HOME, update-alternatives)"
}

ensure_maven() {
    command -v mvn >/dev/null || apt_install maven
}

# The stack makes the certificates of Kafka's TLS listener with it (coaching_devstack.tls).
ensure_openssl() {
    command -v openssl >/dev/null || apt_install openssl
}

ensure_uv() {
    command -v uv >/dev/null && return
    log "pip install uv==$UV_VERSION"
    # Debian's own python3 is "externally managed" (PEP 668) and refuses a plain pip install.
    python3 -m pip install -q "uv==$UV_VERSION" \
        || python3 -m pip install -q --break-system-packages "uv==$UV_VERSION"
}

# Rebuilds the broker classpath only when it is missing or pom.xml changed since it was built.
ensure_kafka_jars() {
    local want
    want="$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
    if [[ -f $KAFKA_STAMP && "$(cat "$KAFKA_STAMP")" == "$want" ]]; then
        return
    fi
    log "building the Kafka classpath in $KAFKA_LIB (maven)"
    # Built aside and swapped in, so that jars of an older pom never linger and an
    # interrupted build never looks complete.
    local tmp="$KAFKA_LIB.tmp"
    rm -rf "$tmp"
    mkdir -p "$(dirname "$KAFKA_LIB")"
    # Output is shown only on failure: a quiet Maven 3.8.7 still prints stray ANSI resets.
    local out
    out="$(mvn -q -B -f "$KAFKA_POM" package -Dkafka.lib.dir="$tmp" 2>&1)" \
        || { printf '%s\n' "$out" >&2; die "maven build of $KAFKA_POM failed"; }
    echo "$want" >"$tmp/.pom.sha256"
    rm -rf "$KAFKA_LIB"
    mv "$tmp" "$KAFKA_LIB"
}

main() {
    ensure_postgres
    ensure_java
    ensure_maven
    ensure_openssl
    ensure_uv
    ensure_kafka_jars
    log "ok (stack dir: $STACK_DIR)"
}

main "$@"

#!/usr/bin/env bash
# Installs what the local stack (the coaching_devstack package beside it) needs, without Docker:
# PostgreSQL server binaries, Java >= 17, Maven, uv, and the Kafka broker's jars.
# Idempotent and quick when everything is already there. It does not run `uv sync`:
# the Makefile does that.
#
# Packages come from apt-get (Debian or Ubuntu), which needs root: as root it runs it, as
# another user it goes through sudo, and without sudo it prints the one command an
# administrator has to run, then stops. uv comes from PyPI, which `uv sync` needs anyway,
# through the pip of a throwaway venv: no pip has to be installed, and the system Python's
# packages (PEP 668 "externally managed" on Debian) stay untouched.
#
#   install.sh --check   only report what is missing (exit 1 if anything is)
#   COACHING_STACK_DIR   where the stack keeps its state (default: <repo>/.stack)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${COACHING_STACK_DIR:-$REPO_ROOT/.stack}"
KAFKA_POM="$REPO_ROOT/deploy/devstack/kafka/pom.xml"
KAFKA_LIB="$STACK_DIR/kafka/lib"
# Lives inside the lib dir, so deleting the jars also forgets that they were built.
KAFKA_STAMP="$KAFKA_LIB/.pom.sha256"
UV_VERSION="0.13.8"
# Where uv goes: a directory on every PATH for root, uv's own default for anyone else.
if [[ $EUID -eq 0 ]]; then UV_BIN_DIR="/usr/local/bin"; else UV_BIN_DIR="$HOME/.local/bin"; fi

log() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

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

# Debian 13 has no Java 17 any more; Kafka runs as well on 21.
java_package() {
    local candidate
    for candidate in openjdk-17-jre-headless openjdk-21-jre-headless; do
        if apt-cache show "$candidate" >/dev/null 2>&1; then
            echo "$candidate"
            return
        fi
    done
    echo openjdk-17-jre-headless
}

uv_found() {
    command -v uv >/dev/null || [[ -x $UV_BIN_DIR/uv ]]
}

# The Debian packages that are missing, separated by blanks.
missing_packages() {
    # Where Debian puts the server's programs, or PATH (as coaching_devstack.postgres looks).
    compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || command -v pg_ctl >/dev/null \
        || echo postgresql postgresql-contrib
    (( $(java_major) >= 17 )) || java_package
    command -v mvn >/dev/null || echo maven
    if ! uv_found; then
        command -v python3 >/dev/null || echo python3
        # Debian ships venv's pip bootstrap (ensurepip) apart from python3 itself.
        python3 -c 'import ensurepip' 2>/dev/null || echo python3-venv
    fi
}

apt_install() {
    command -v apt-get >/dev/null || die "no apt-get (not Debian or Ubuntu): install what \
these Debian packages hold yourself, then run this again: $*"
    local sudo=""
    if [[ $EUID -ne 0 ]]; then
        command -v sudo >/dev/null || die "apt-get needs root, and this user is not root and has \
no sudo. Ask an administrator to run
    apt-get install -y --no-install-recommends $*
then run this again."
        sudo="sudo"
    fi
    log "${sudo:+sudo }apt-get install $*"
    # apt-get update is slow, so it runs only here: when a package must be installed.
    { $sudo apt-get update -qq \
        && $sudo env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "$@"; } \
        || die "could not install $* (as root: apt-get install -y --no-install-recommends $*)"
}

check_java() {
    local major
    major="$(java_major)"
    (( major > 0 )) || die "no $JAVA after installing Java (is JAVA_HOME wrong?)"
    (( major >= 17 )) || die "$JAVA is Java $major; Kafka 4 needs >= 17 (JAVA_HOME, update-alternatives)"
}

ensure_uv() {
    uv_found && return
    log "uv $UV_VERSION from PyPI into $UV_BIN_DIR"
    local venv
    venv="$(mktemp -d)"
    # uv is one self-contained binary (and uvx beside it): the venv only brings pip to fetch it.
    if ! { python3 -m venv "$venv" \
        && "$venv/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION" \
        && mkdir -p "$UV_BIN_DIR" \
        && install -m 755 "$venv/bin/uv" "$venv/bin/uvx" "$UV_BIN_DIR/"; }; then
        rm -rf "$venv"
        die "could not install uv from PyPI; install it yourself \
(https://docs.astral.sh/uv/getting-started/installation/) and run this again"
    fi
    rm -rf "$venv"
}

# Rebuilds the broker classpath only when it is missing or pom.xml changed since it was built.
kafka_jars_built() {
    [[ -f $KAFKA_STAMP && "$(cat "$KAFKA_STAMP")" == "$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)" ]]
}

ensure_kafka_jars() {
    kafka_jars_built && return
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
    sha256sum "$KAFKA_POM" | cut -d' ' -f1 >"$tmp/.pom.sha256"
    rm -rf "$KAFKA_LIB"
    mv "$tmp" "$KAFKA_LIB"
}

# Only a note: callers that want the jars alone (the chaos arena) need no uv. Those that run
# uv next (the Makefile's `uv sync`) need its directory on their PATH.
path_note() {
    command -v uv >/dev/null || ! uv_found || log "note: uv is in $UV_BIN_DIR, which is not \
on this PATH:
    export PATH=\"$UV_BIN_DIR:\$PATH\"   (Debian's ~/.profile adds it at the next login)"
}

report() {
    local packages=("$@") missing=0
    if (( ${#packages[@]} )); then
        log "missing Debian packages: ${packages[*]}"
        missing=1
    fi
    uv_found || { log "missing: uv (from PyPI, into $UV_BIN_DIR)"; missing=1; }
    kafka_jars_built || { log "missing: the Kafka jars in $KAFKA_LIB (maven)"; missing=1; }
    (( missing )) || log "nothing missing"
    path_note
    return "$missing"
}

main() {
    local packages
    mapfile -t packages < <(missing_packages | tr ' ' '\n')
    if [[ ${1:-} == --check ]]; then
        report "${packages[@]}"
        return
    fi
    (( ${#packages[@]} == 0 )) || apt_install "${packages[@]}"
    check_java
    ensure_uv
    ensure_kafka_jars
    log "ok (stack dir: $STACK_DIR)"
    path_note
}

main "$@"

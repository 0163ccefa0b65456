# shellcheck shell=bash
# Shared helpers for deploy/local/*.sh. Sourced, never executed.
#
# Why these scripts exist at all: the project's dev machines and CI have no
# Docker engine, so Kafka and PostgreSQL run as plain local processes. Where
# Docker exists, tests use testcontainers instead.

# Repo root = two levels above this file; computed from the file's location so
# the scripts work from any cwd (tests invoke them via absolute path).
PUTRIGHT_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PUTRIGHT_DEPLOY_DIR="$PUTRIGHT_REPO_ROOT/deploy/local"
# Everything mutable (jars, data dirs, logs, env file) lives here; .gitignored.
PUTRIGHT_LOCAL_DIR="${PUTRIGHT_LOCAL_DIR:-$PUTRIGHT_REPO_ROOT/.local}"
export PUTRIGHT_LOCAL_DIR

# Pinned versions live in one file; an explicit environment value wins so a
# different Kafka can be tried with KAFKA_VERSION=x.y.z without editing files.
_pinned_kafka_version="$(sed -n 's/^KAFKA_VERSION=//p' "$PUTRIGHT_DEPLOY_DIR/versions.env")"
KAFKA_VERSION="${KAFKA_VERSION:-$_pinned_kafka_version}"
unset _pinned_kafka_version

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# apt-get update is slow and only needed once per run, and only on a machine
# that is actually missing something.
_APT_UPDATED=0
apt_install() {
    [ "$(id -u)" -eq 0 ] || die "need root to apt-get install $*"
    if [ "$_APT_UPDATED" -eq 0 ]; then
        log "installing missing packages: $*"
        # Wait for another apt run (e.g. unattended upgrades) rather than fail.
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
        _APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 \
        -o DPkg::Lock::Timeout=600 \
        --no-install-recommends "$@" >&2
}

java_bin() {
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
        echo "$JAVA_HOME/bin/java"
    else
        command -v java || true
    fi
}

java_major() {
    local java
    java="$(java_bin)"
    [ -n "$java" ] || { echo 0; return; }
    # Looks like: openjdk version "17.0.15" 2025-04-15 (not always line 1:
    # "Picked up JAVA_TOOL_OPTIONS" may come first). Old style "1.8.0" -> 1.
    "$java" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1
}

# Java 17+ is required by Kafka 4.x brokers. If only an older Java is on PATH,
# install 17 and point JAVA_HOME at it (java_bin prefers JAVA_HOME).
ensure_java() {
    [ "$(java_major)" -ge 17 ] 2>/dev/null && return 0
    apt_install openjdk-17-jre-headless
    if [ "$(java_major)" -lt 17 ] 2>/dev/null; then
        JAVA_HOME="/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)"
        export JAVA_HOME
    fi
    [ "$(java_major)" -ge 17 ] 2>/dev/null || die "no Java 17+ found after install"
}

ensure_maven() {
    command -v mvn >/dev/null 2>&1 || apt_install maven
}

# Directory of the newest installed PostgreSQL server binaries (Debian layout).
pg_bindir() {
    local d
    # shellcheck disable=SC2012 # Debian version dirs are plain numbers
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; fi
}

ensure_postgres() {
    if [ -z "$(pg_bindir)" ] || ! command -v psql >/dev/null 2>&1; then
        apt_install postgresql
    fi
    [ -n "$(pg_bindir)" ] || die "PostgreSQL server binaries not found after install"
}

# True if something accepts TCP connections on 127.0.0.1:$1 (bash built-in,
# so no dependency on nc/ss being installed).
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True if $1 is a live pid whose command line contains $2 — guards against
# acting on a stale pid file whose pid got reused by an unrelated process.
pid_matches() {
    local pid="$1" needle="$2"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle"
}

# Serialise concurrent invocations on one state dir (e.g. parallel test
# workers all running `start`). Usage: lock_or_wait FILE [FD] (FD default 9).
# Held until the script exits or `exec FD>&-`; anything long-lived we spawn
# must get `9>&-` or it would keep the lock for its whole life.
lock_or_wait() {
    local file="$1" fd="${2:-9}"
    mkdir -p "$(dirname "$file")"
    eval "exec $fd>\"\$file\""
    flock "$fd"
}

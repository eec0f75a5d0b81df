#!/usr/bin/env bash
# A real Kafka-protocol broker on loopback for Tocsin's integration tests: tansu 0.6.0.
#
#   scripts/test-broker.sh install
#       Installs tansu 0.6.0 with `cargo install` unless `tansu --version` already says 0.6.0
#       (about 7 minutes on 2 cores). Tries the file-backed storage feature (libsql) first and
#       falls back to memory storage only (dynostore) if that does not build.
#
#   scripts/test-broker.sh start [--dir DIR] [--file] [--owner PID] [--topic NAME[:PARTITIONS]]...
#       Installs tansu when missing, starts it on a free 127.0.0.1 port, waits until it accepts
#       connections, creates the requested topics (1 partition by default) and prints
#           TOCSIN_TEST_BROKER=127.0.0.1:PORT
#           TOCSIN_TEST_BROKER_DIR=DIR
#       Storage is in memory unless --file is given (sqlite file DIR/tansu.db: data survives a
#       broker restart). Use --file for anything that seeks: tansu 0.6.0's memory storage answers
#       a fetch starting inside a record batch with the next batch, skipping records. DIR (default: a new temporary directory) holds the pid file and the log.
#       With --owner PID the broker stops by itself when process PID exits (test harnesses).
#
#   scripts/test-broker.sh topic BROKER NAME [PARTITIONS]
#       Creates a topic (tansu does not create topics on first use).
#
#   scripts/test-broker.sh stop DIR [--kill]
#       Stops the broker started with that DIR (SIGTERM, SIGKILL after 5 s; with --kill at once,
#       like a crash). Its data stays.
#
#   scripts/test-broker.sh restart DIR
#       Starts a stopped broker again on the same port, storage and directory (with --file its
#       data is still there), re-arms the --owner watchdog, and waits until it accepts
#       connections. For tests of a broker outage.
#
# Exit status is non-zero with a message on stderr when anything fails.
set -euo pipefail

TANSU_VERSION=0.6.0

die() { echo "test-broker: $*" >&2; exit 1; }

have_tansu() {
    command -v tansu >/dev/null 2>&1 && tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"
}

install() {
    if have_tansu; then
        return 0
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo is needed to install tansu"
    echo "test-broker: installing tansu $TANSU_VERSION (several minutes)..." >&2
    if ! cargo install tansu --version "$TANSU_VERSION" --features dynostore,libsql --locked >&2; then
        echo "test-broker: libsql feature failed to build; installing memory storage only" >&2
        cargo install tansu --version "$TANSU_VERSION" --features dynostore --locked >&2 \
            || die "cargo install tansu failed"
    fi
    have_tansu || die "tansu installed but not on PATH (add ~/.cargo/bin to PATH)"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

accepting() {
    # bash's /dev/tcp: succeeds once the port accepts a connection.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

create_topic() {
    local broker=$1 name=$2 partitions=${3:-1} out
    if ! out=$(tansu topic create "$name" --broker "tcp://$broker" --partitions "$partitions" 2>&1); then
        # Idempotent: an existing topic is fine.
        echo "$out" | grep -qi "exist" || die "cannot create topic $name: $out"
    fi
}

start() {
    local dir="" storage=memory owner="" topics=()
    while [ $# -gt 0 ]; do
        case $1 in
            --dir) dir=$2; shift 2 ;;
            --file) storage=file; shift ;;
            --owner) owner=$2; shift 2 ;;
            --topic) topics+=("$2"); shift 2 ;;
            *) die "start: unknown argument $1" ;;
        esac
    done
    install
    if [ -z "$dir" ]; then
        dir=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-broker.XXXXXX")
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local port engine
    port=$(free_port)
    if [ "$storage" = file ]; then
        # tansu resolves sqlite paths against its working directory.
        engine="sqlite://tansu.db"
    else
        engine="memory://tansu/"
    fi
    # What `restart` needs to bring the same broker back.
    echo "$port" >"$dir/tansu.port"
    echo "$engine" >"$dir/tansu.engine"
    echo "$owner" >"$dir/tansu.owner"
    launch "$dir"
    for t in "${topics[@]}"; do
        create_topic "127.0.0.1:$port" "${t%%:*}" "$( [ "${t#*:}" != "$t" ] && echo "${t#*:}" || echo 1 )"
    done
    echo "TOCSIN_TEST_BROKER=127.0.0.1:$port"
    echo "TOCSIN_TEST_BROKER_DIR=$dir"
}

# Starts tansu in DIR with the port, storage and owner recorded there by `start`.
launch() {
    local dir=$1 port engine owner url
    port=$(cat "$dir/tansu.port")
    engine=$(cat "$dir/tansu.engine")
    owner=$(cat "$dir/tansu.owner")
    url="tcp://127.0.0.1:$port"
    (
        cd "$dir"
        exec tansu broker --listener-url "$url" --advertised-listener-url "$url" \
            --storage-engine "$engine" >>"$dir/tansu.log" 2>&1
    ) &
    local pid=$!
    echo "$pid" >"$dir/tansu.pid"
    local tries=0
    until accepting "$port"; do
        kill -0 "$pid" 2>/dev/null || die "tansu exited at start; see $dir/tansu.log: $(tail -5 "$dir/tansu.log")"
        tries=$((tries + 1))
        [ $tries -lt 300 ] || { kill "$pid" 2>/dev/null; die "tansu did not accept connections within 30 s"; }
        sleep 0.1
    done
    if [ -n "$owner" ]; then
        # Watchdog: the broker must not outlive the test run that started it.
        (
            while kill -0 "$owner" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
            kill "$pid" 2>/dev/null || true
        ) </dev/null >/dev/null 2>&1 &
    fi
}

restart() {
    local dir=${1:?restart needs the broker directory}
    [ -f "$dir/tansu.port" ] || die "no broker was started with directory $dir"
    if [ -f "$dir/tansu.pid" ] && kill -0 "$(cat "$dir/tansu.pid")" 2>/dev/null; then
        die "the broker in $dir is still running"
    fi
    launch "$dir"
    echo "TOCSIN_TEST_BROKER=127.0.0.1:$(cat "$dir/tansu.port")"
}

stop() {
    local dir=${1:?stop needs the broker directory}
    [ -f "$dir/tansu.pid" ] || die "no broker pid file in $dir"
    local pid signal=TERM
    [ "${2:-}" != --kill ] || signal=KILL
    pid=$(cat "$dir/tansu.pid")
    if kill -s "$signal" "$pid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/tansu.pid"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
    install) install ;;
    start) start "$@" ;;
    topic) [ $# -ge 2 ] || die "usage: topic BROKER NAME [PARTITIONS]"; create_topic "$@" ;;
    stop) stop "$@" ;;
    restart) restart "$@" ;;
    *) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

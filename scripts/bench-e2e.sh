#!/usr/bin/env bash
# End-to-end benchmark through a real Kafka-protocol broker (tansu, memory storage) on loopback.
#
#   scripts/bench-e2e.sh            # defaults below; figures on stdout, work files in a temp dir
#   N=2000000 RATE=20000 scripts/bench-e2e.sh
#   PARTS=latency scripts/bench-e2e.sh   # only part 2 (PARTS=throughput: only part 1)
#
# 1. Throughput. `tocsin gen` traffic (ACCOUNTS accounts, first N events) is produced to topic
#    `bench-events` (PARTITIONS partitions, keyed by account). Then, in the same run and against
#    the same topic:
#      - a bare rdkafka consumer (examples/kafka_bench.rs `consume`, fresh group) reads the N
#        messages and touches each payload: messages/s from its first message to its last;
#      - `tocsin run` (fresh group, checkpoints every 500 ms so progress is visible as committed
#        offsets) consumes the same N messages: messages/s between the first commit observed
#        and the commit that covers all N (`kafka_bench committed`).
#    Group join and rebalance are left out of both. Ratio = tocsin / bare.
# 2. Event-to-alert latency at a fixed rate. A second `tocsin run` (default checkpoint interval)
#    first consumes LAT_ACCOUNTS accounts' 7 days of history at full speed (to warm baselines; not
#    measured), then the following day (with attacks) is produced at RATE events/s for up to
#    LAT_SECONDS s (`kafka_bench latency`). For each alert read from the alerts topic, latency =
#    time read − time the producer sent the last event the alert names. `tocsin run` runs with
#    its own defaults (its consumer sets `fetch.wait.max.ms = 10`); LAT_PROPERTIES, if set, is
#    a TOML inline table added as `[source.kafka] properties` (e.g.
#    LAT_PROPERTIES='{ "fetch.wait.max.ms" = "500" }' for librdkafka's default), and LAT_KAFKA
#    extra `[source.kafka]` lines (e.g. LAT_KAFKA='batch_max_delay_ms = 0'). The probe itself
#    always reads with a 5 ms fetch wait.
#
# Needs: cargo, python3 (free port), tansu 0.6.0 (installed by scripts/test-broker.sh if missing,
# ~7 minutes). Uses CARGO_TARGET_DIR if set. TOCSIN_BIN=PATH and KAFKA_BENCH_BIN=PATH use those
# binaries instead of building (to compare two builds). Everything started here is stopped on exit.
set -euo pipefail

N=${N:-1000000}
ACCOUNTS=${ACCOUNTS:-20000}
PARTITIONS=${PARTITIONS:-4}
RATE=${RATE:-20000}
LAT_ACCOUNTS=${LAT_ACCOUNTS:-5000}
LAT_SECONDS=${LAT_SECONDS:-30}
LAT_PROPERTIES=${LAT_PROPERTIES:-}
LAT_KAFKA=${LAT_KAFKA:-}
PARTS=${PARTS:-throughput latency}

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-bench-e2e.XXXXXX")
pids=()

cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    if [ -f "$work/broker/tansu.pid" ]; then
        "$root/scripts/test-broker.sh" stop "$work/broker" || true
    fi
}
trap cleanup EXIT

say() { echo "bench-e2e: $*" >&2; }

cd "$root"
if [ -z "${TOCSIN_BIN:-}" ] || [ -z "${KAFKA_BENCH_BIN:-}" ]; then
    say "building (release)..."
    cargo build --release --quiet --bin tocsin --example kafka_bench
fi
tocsin=${TOCSIN_BIN:-$target/release/tocsin}
kb=${KAFKA_BENCH_BIN:-$target/release/examples/kafka_bench}

say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"

eval "$("$root/scripts/test-broker.sh" start --dir "$work/broker" --owner $$ \
    --topic "bench-events:$PARTITIONS" --topic "bench-latency:$PARTITIONS" \
    --topic tocsin-alerts:1 --topic tocsin-dead-letter:1 --topic tocsin-revocations:1)"
broker=$TOCSIN_TEST_BROKER
say "broker on $broker"

config() { # config GROUP TOPIC STATE_DIR
    cat <<EOF
[geoip]
city = "$root/testdata/geo/GeoLite2-City-Test.mmdb"
asn = "$root/testdata/geo/GeoLite2-ASN-Test.mmdb"
[rules]
dir = "$root/rules"
[state]
dir = "$3"
[source.kafka]
brokers = "$broker"
topics = ["$2"]
group_id = "$1"
EOF
}

# Generates ACCOUNTS' traffic and keeps the first LINES lines (enough days to have them).
generate() { # generate ACCOUNTS DAYS OUT
    "$tocsin" gen --accounts "$1" --days "$2" --seed 7 >"$3"
}

# ---- 1. throughput ---------------------------------------------------------------------------
if [[ " $PARTS " == *" throughput "* ]]; then
say "generating $N events ($ACCOUNTS accounts)..."
days=1
while :; do
    generate "$ACCOUNTS" "$days" "$work/all.jsonl"
    [ "$(wc -l <"$work/all.jsonl")" -ge "$N" ] && break
    days=$((days * 2))
    [ $days -le 256 ] || { say "cannot generate $N events"; exit 1; }
done
head -n "$N" "$work/all.jsonl" >"$work/events.jsonl"
rm -f "$work/all.jsonl"
echo "events: $N lines, $(($(wc -c <"$work/events.jsonl") / N)) bytes/line on average"

"$kb" --brokers "$broker" produce --topic bench-events --file "$work/events.jsonl"

bare=$("$kb" --brokers "$broker" consume --topic bench-events --count "$N")
echo "$bare"

config "tocsin-bench-$$" bench-events "$work/state-tp" >"$work/tp.toml"
"$tocsin" run --config "$work/tp.toml" --checkpoint-interval-ms 500 2>"$work/run-tp.log" &
run_pid=$!
pids+=("$run_pid")
ours=$("$kb" --brokers "$broker" committed --topic bench-events --group "tocsin-bench-$$" --count "$N")
echo "tocsin run: $ours"
kill -TERM "$run_pid"
wait "$run_pid" || say "tocsin run exited with $?; log: $work/run-tp.log"
tail -n 1 "$work/run-tp.log"

bare_rate=$(echo "$bare" | awk '{print $(NF-1)}')
ours_rate=$(echo "$ours" | awk '{print $(NF-1)}')
awk -v a="$ours_rate" -v b="$bare_rate" \
    'BEGIN { printf "throughput ratio tocsin run / bare consumer = %.1f%% (target >= 80%%)\n", 100 * a / b }'
fi

# ---- 2. event-to-alert latency --------------------------------------------------------------
if [[ " $PARTS " == *" latency "* ]]; then
say "generating $LAT_ACCOUNTS accounts x 8 days for the latency run..."
generate "$LAT_ACCOUNTS" 8 "$work/lat-all.jsonl"
# Day 8 starts at 2025-11-10T00:00Z (the generator starts on 2025-11-03).
split=$(grep -n -m1 '"ts":"2025-11-10' "$work/lat-all.jsonl" | cut -d: -f1)
head -n $((split - 1)) "$work/lat-all.jsonl" >"$work/lat-history.jsonl"
tail -n +"$split" "$work/lat-all.jsonl" | head -n $((RATE * LAT_SECONDS)) >"$work/lat-day.jsonl"
rm -f "$work/lat-all.jsonl"
history=$(wc -l <"$work/lat-history.jsonl")
echo "latency run: $history history events, then $(wc -l <"$work/lat-day.jsonl") events at $RATE/s"

group="tocsin-lat-$$"
{
    config "$group" bench-latency "$work/state-lat"
    [ -z "$LAT_KAFKA" ] || echo "$LAT_KAFKA"
    [ -z "$LAT_PROPERTIES" ] || echo "properties = $LAT_PROPERTIES"
} >"$work/lat.toml"
"$tocsin" run --config "$work/lat.toml" 2>"$work/run-lat.log" &
pid=$!
pids+=("$pid")
"$kb" --brokers "$broker" produce --topic bench-latency --file "$work/lat-history.jsonl"
# The history is processed when the group has committed it (default checkpoint: every 10 s).
"$kb" --brokers "$broker" committed --topic bench-latency --group "$group" \
    --count "$history" >/dev/null
echo "latency, tocsin run (extra [source.kafka]: ${LAT_KAFKA:-none}; properties: ${LAT_PROPERTIES:-none}; load $(cut -d' ' -f1-3 /proc/loadavg)):"
"$kb" --brokers "$broker" latency --topic bench-latency --alerts-topic tocsin-alerts \
    --file "$work/lat-day.jsonl" --rate "$RATE"
kill -TERM "$pid"
wait "$pid" || say "tocsin run exited with $?; log: $work/run-lat.log"
tail -n 1 "$work/run-lat.log"
fi
say "load at the end: $(cut -d' ' -f1-3 /proc/loadavg); work files in $work"

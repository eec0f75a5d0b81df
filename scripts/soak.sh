#!/usr/bin/env bash
# Soak test: tens of millions of generated events through `tocsin run` over a real Kafka broker,
# with the engine's resident memory sampled every few seconds, to show memory is flat after
# warm-up and nothing errors (results go in BENCHMARKS.md §5).
#
#   scripts/soak.sh [EVENTS]            default EVENTS=40000000 (about 30 minutes here)
#
# What it does, all on loopback, everything under one work directory:
#   1. builds `tocsin` in release mode (cargo build --release; several minutes the first time);
#   2. starts the test broker (scripts/test-broker.sh start: tansu, memory storage by default)
#      and creates the input topic (SOAK_PARTITIONS partitions) and the output topics;
#   3. starts `tocsin run` on a generated tocsin.toml (shipped rules, state in the work dir,
#      checkpoints every 5 s, API on a free port, engine defaults otherwise);
#   4. pipes `tocsin gen` (SOAK_ACCOUNTS accounts over SOAK_DAYS days, cut at EVENTS lines) into a
#      small producer (Python `confluent-kafka`, installed into a venv in the work dir: Debian's
#      kcat cannot talk to tansu), paced at SOAK_RATE events/s, while the engine consumes;
#   5. every SOAK_SAMPLE_SECS samples the engine's RSS (/proc/PID/status VmRSS), the events it
#      has checkpointed (its consumer group's committed offsets) and its /metrics gauges (state
#      bytes, accounts, outbox, consumer lag, alerts held for the API) into rss.csv;
#   6. once every produced event is checkpointed (or after SOAK_TIMEOUT_SECS), sends SIGTERM, checks
#      the engine drained and exited 0, counts ERROR lines in its log, and prints warm-up vs
#      steady-state RSS.
#
# Verdict (exit status): 0 when the engine counted every event, exited 0, logged no ERROR, and
# steady-state RSS grew by at most SOAK_MAX_GROWTH_PCT (default 10) between the first and the
# last quarter of the steady phase; 1 otherwise. Warm-up lasts until both SOAK_WARMUP_EVENTS
# events are in (default 2,000,000: baselines, population tables and caches fill by design) and
# the API's alert history holds its `recent_alerts` alerts. That bounded table fills only as fast
# as alerts are raised, ~500 per million events of this traffic, so the default 10,000 is full
# after about 20 M events; a run whose history never fills has no steady phase and fails.
#
# Environment (all optional): SOAK_TOCSIN (a tocsin binary to use instead of building one, e.g.
# a debug build for a quick smoke run), SOAK_DIR (work dir, default a new temp dir, kept),
# SOAK_ACCOUNTS (default 5000), SOAK_DAYS (default 160: about 43 M events), SOAK_SEED (1),
# SOAK_PARTITIONS (4), SOAK_SAMPLE_SECS (5), SOAK_TIMEOUT_SECS (7200), SOAK_WARMUP_EVENTS,
# SOAK_MAX_GROWTH_PCT, SOAK_RATE (events/s the producer keeps to; default 25000, below what the
# engine sustains against tansu here; 0: as fast as it can, so the engine falls behind and
# librdkafka's pre-fetch queues fill, up to `queued.max.messages.kbytes` per partition, which
# shows in RSS while a backlog forms), SOAK_KAFKA_PROPERTIES (a TOML inline table for
# `[source.kafka] properties`, e.g. '{ "fetch.max.bytes" = "8388608" }'), SOAK_BROKER_STORAGE
# (memory, the default: the broker holds every event in RAM, several GiB for 40 M events; a soak
# never seeks, the one thing tansu 0.6.0's memory storage gets wrong. Or file: its sqlite
# storage, which on this machine slowed to ~5,000 events/s past ~5.5 M events with the broker at
# 100% CPU, so the engine lags and its pre-fetch fills), SOAK_RECENT_ALERTS (`[api]
# recent_alerts`, default 10000 as in the engine: the API's in-memory alert history).
# If `tocsin gen` stops before EVENTS lines, raise SOAK_ACCOUNTS or SOAK_DAYS.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
events="${1:-40000000}"
accounts="${SOAK_ACCOUNTS:-5000}"
days="${SOAK_DAYS:-160}"
seed="${SOAK_SEED:-1}"
partitions="${SOAK_PARTITIONS:-4}"
sample_secs="${SOAK_SAMPLE_SECS:-5}"
timeout_secs="${SOAK_TIMEOUT_SECS:-7200}"
warmup_events="${SOAK_WARMUP_EVENTS:-2000000}"
max_growth_pct="${SOAK_MAX_GROWTH_PCT:-10}"
kafka_properties="${SOAK_KAFKA_PROPERTIES:-}"
rate="${SOAK_RATE:-25000}"
broker_storage="${SOAK_BROKER_STORAGE:-memory}"
recent_alerts="${SOAK_RECENT_ALERTS:-10000}"
[[ "$broker_storage" == file || "$broker_storage" == memory ]] || { echo "soak: SOAK_BROKER_STORAGE is file or memory" >&2; exit 2; }
work="${SOAK_DIR:-$(mktemp -d -t tocsin-soak.XXXXXX)}"
mkdir -p "$work"

say() { echo "soak: $*" >&2; }
die() { say "$*"; exit 1; }

broker_dir=""
engine_pid=""
producer_pid=""
cleanup() {
    if [[ -n "$producer_pid" ]]; then
        # The producer is a subshell running `tocsin gen | python`: stop its children too.
        pkill -P "$producer_pid" 2>/dev/null || true
        kill "$producer_pid" 2>/dev/null || true
    fi
    if [[ -n "$engine_pid" ]] && kill "$engine_pid" 2>/dev/null; then
        # Let it drain while the broker is still up (bounded: 30 s).
        for _ in $(seq 30); do kill -0 "$engine_pid" 2>/dev/null || break; sleep 1; done
    fi
    [[ -n "$broker_dir" ]] && "$root/scripts/test-broker.sh" stop "$broker_dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# Interrupted or terminated: exit, so that the EXIT trap stops everything started here.
trap 'exit 130' INT
trap 'exit 143' TERM

say "work directory: $work"
if [[ -n "${SOAK_TOCSIN:-}" ]]; then
    built="$SOAK_TOCSIN"
else
    say "building tocsin (release)"
    (cd "$root" && cargo build --release --bin tocsin >&2)
    built="${CARGO_TARGET_DIR:-$root/target}/release/tocsin"
fi
[[ -x "$built" ]] || die "no binary at $built"
# A private copy: a shared target directory may be rebuilt from another branch meanwhile.
cp "$built" "$work/tocsin"
tocsin="$work/tocsin"

if [[ ! -x "$work/venv/bin/python" ]]; then
    say "installing the producer's client (confluent-kafka) into $work/venv"
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install --quiet confluent-kafka >&2
fi

storage_flag=()
[[ "$broker_storage" == file ]] && storage_flag=(--file)
say "starting the broker ($broker_storage storage)"
"$root/scripts/test-broker.sh" start "${storage_flag[@]}" --dir "$work/broker" --owner $$ \
    --topic "auth-events:$partitions" --topic tocsin-dead-letter --topic tocsin-alerts \
    --topic tocsin-revocations >"$work/broker.env"
broker="$(sed -n 's/^TOCSIN_TEST_BROKER=//p' "$work/broker.env")"
broker_dir="$work/broker"
[[ -n "$broker" ]] || die "the broker did not start (see $work/broker)"

api_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$work/tocsin.toml" <<EOF
[rules]
dir = "$root/rules"
[state]
dir = "$work/state"
checkpoint_interval_secs = 5
[source.kafka]
brokers = "$broker"
topics = ["auth-events"]
group_id = "tocsin-soak"
format = "native"
dead_letter_topic = "tocsin-dead-letter"
alerts_topic = "tocsin-alerts"
revocations_topic = "tocsin-revocations"
${kafka_properties:+properties = $kafka_properties}
[api]
listen = "127.0.0.1:$api_port"
recent_alerts = $recent_alerts
# `tocsin gen` traffic replays days in seconds, so per-minute revocation limits would trip on
# every wall-clock minute: lift them (the guard has its own tests).
[revocation]
max_per_minute = 1000000
max_per_tenant_per_hour = 1000000
EOF

say "starting tocsin run (API on 127.0.0.1:$api_port)"
TOCSIN_LOG=info "$tocsin" run --config "$work/tocsin.toml" >"$work/run.out" 2>"$work/run.log" &
engine_pid=$!

cat >"$work/progress.py" <<'EOF'
# Prints how many input messages the engine has checkpointed: the sum over the topic's
# partitions of the offsets its consumer group committed (tocsin commits after each checkpoint).
import sys
from confluent_kafka import Consumer, TopicPartition

broker, group, topic = sys.argv[1:4]
c = Consumer({"bootstrap.servers": broker, "group.id": group, "enable.auto.commit": False})
try:
    meta = c.list_topics(topic, timeout=10)
    parts = [TopicPartition(topic, p) for p in meta.topics[topic].partitions]
    print(sum(max(tp.offset, 0) for tp in c.committed(parts, timeout=10)))
except Exception:
    print(0)
finally:
    c.close()
EOF

# Events the engine has processed and checkpointed (what would survive a crash).
counted() {
    local n
    n=$("$work/venv/bin/python" "$work/progress.py" "$broker" tocsin-soak auth-events 2>/dev/null | tail -n 1)
    [[ "$n" =~ ^[0-9]+$ ]] && echo "$n" || echo 0
}

cat >"$work/produce.py" <<'EOF'
# Reads JSON lines on stdin and produces each as one message; prints the count at the end.
# Every message must be acknowledged by the broker: no delivery timeout (the broker may lag
# far behind while the engine reads from it), a delivery callback counts failures, and the
# final flush waits as long as the broker keeps acknowledging (gives up after 300 s without
# progress).
import sys, time
from confluent_kafka import Producer

rate = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0  # events/s; 0: as fast as possible
started = time.monotonic()

failed = 0
def delivered(err, _msg):
    global failed
    if err is not None:
        failed += 1
        if failed <= 10:
            print(f"delivery failed: {err}", file=sys.stderr)

p = Producer({"bootstrap.servers": sys.argv[1], "linger.ms": 20, "batch.num.messages": 10000,
              "queue.buffering.max.messages": 500000, "compression.type": "lz4",
              "message.timeout.ms": 0})
n = 0
for line in sys.stdin.buffer:
    line = line.rstrip(b"\n")
    if not line:
        continue
    while True:
        try:
            p.produce(sys.argv[2], line, on_delivery=delivered)
            break
        except BufferError:
            p.poll(0.1)
    n += 1
    if n % 1000 == 0:
        p.poll(0)
        if rate > 0:
            ahead = n / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
left, stalled = len(p), 0
while left and stalled < 300:
    now = p.flush(10)
    stalled = stalled + 10 if now >= left else 0
    left = now
if left or failed:
    sys.exit(f"{left} messages not acknowledged, {failed} delivery failures")
print(n)
EOF

say "producing $events events (tocsin gen --accounts $accounts --days $days --seed $seed)"
(
    # `head` closing the pipe makes gen fail with EPIPE by design: only the producer's status counts.
    set +o pipefail
    "$tocsin" gen --accounts "$accounts" --days "$days" --seed "$seed" --attacks all 2>"$work/gen.log" \
        | head -n "$events" \
        | "$work/venv/bin/python" "$work/produce.py" "$broker" auth-events "$rate" >"$work/produced"
    exit "${PIPESTATUS[2]}"
) &
producer_pid=$!

# The engine's own gauges, from its /metrics: state size, accounts, outbox, consumer lag.
gauge() {
    local v
    v=$(curl -sf --max-time 2 "http://127.0.0.1:$api_port/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { if (NR) printf "%d", s }')
    echo "${v:-0}"
}

echo "elapsed_s,rss_kb,events_counted,state_bytes,accounts,outbox_entries,lag_messages,recent_alerts" >"$work/rss.csv"
start=$(date +%s)
produced=""
while :; do
    sleep "$sample_secs"
    kill -0 "$engine_pid" 2>/dev/null || die "tocsin run exited early (see $work/run.log)"
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$engine_pid/status")
    n=$(counted || echo 0)
    now=$(($(date +%s) - start))
    state=$(gauge tocsin_state_bytes)
    echo "$now,$rss,$n,$state,$(gauge tocsin_accounts_tracked),$(gauge tocsin_outbox_entries),$(gauge tocsin_consumer_lag_messages),$(gauge tocsin_recent_alerts)" >>"$work/rss.csv"
    say "t=${now}s rss=$((rss / 1024)) MiB state=$((state / 1024)) KiB counted=$n"
    if [[ -z "$produced" ]] && ! kill -0 "$producer_pid" 2>/dev/null; then
        wait "$producer_pid" || die "the producer failed (see above)"
        producer_pid=""
        produced=$(cat "$work/produced")
        say "producer done: $produced events"
        ((produced >= events)) || say "warning: gen stopped at $produced events; raise SOAK_ACCOUNTS/SOAK_DAYS"
    fi
    [[ -n "$produced" && "$n" -ge "$produced" ]] && break
    ((now < timeout_secs)) || die "timeout after ${now}s with $n of ${produced:-?} events counted"
done
elapsed=$(($(date +%s) - start))

say "stopping tocsin run (SIGTERM)"
kill -TERM "$engine_pid"
status=0
wait "$engine_pid" || status=$?
engine_pid=""
# ANSI colour codes, if any, are stripped before matching the level.
errors=$(sed 's/\x1b\[[0-9;]*m//g' "$work/run.log" | grep -c '\bERROR\b' || true)

python3 - "$work/rss.csv" "$warmup_events" "$max_growth_pct" "$produced" "$elapsed" "$status" "$errors" "$recent_alerts" <<'EOF'
import csv, statistics, sys

path, warmup, max_growth = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
produced, elapsed, status, errors = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
history_cap = int(sys.argv[8])
rows = [(int(r["elapsed_s"]), int(r["rss_kb"]), int(r["events_counted"]), int(r["state_bytes"] or 0),
         int(r["recent_alerts"] or 0))
        for r in csv.DictReader(open(path))]
mib = lambda kb: kb / 1024
print(f"events: {produced} in {elapsed} s ({produced / max(elapsed, 1):,.0f} events/s); exit status {status}; ERROR log lines {errors}")
ok = status == 0 and errors == 0
# Warm-up ends once `warmup` events are in and the API's alert history holds its
# `recent_alerts` alerts: a bounded table that fills only as fast as alerts are raised.
full = next((r for r in rows if r[4] >= history_cap), None)
if full:
    print(f"alert history full ({history_cap:,} alerts) at {full[2]:,} events, t={full[0]} s, RSS {mib(full[1]):.0f} MiB")
else:
    held = rows[-1][4] if rows else 0
    print(f"alert history not full at the end ({held:,} of {history_cap:,} alerts): still filling, so no "
          "steady state to judge (raise EVENTS, or lower SOAK_RECENT_ALERTS)")
start = max(warmup, full[2]) if full else produced + 1
warm = [r for r in rows if r[2] < start]
steady = [r for r in rows if r[2] >= start]
if warm:
    print(f"warm-up (< {min(start, produced):,} events): peak RSS {mib(max(r[1] for r in warm)):.0f} MiB, at end {mib(warm[-1][1]):.0f} MiB")
if len(steady) >= 4:
    q = max(len(steady) // 4, 1)
    first, last = statistics.mean(r[1] for r in steady[:q]), statistics.mean(r[1] for r in steady[-q:])
    growth = (last - first) / first * 100
    print(f"steady state ({len(steady)} samples, {steady[0][2]:,} to {steady[-1][2]:,} events): "
          f"min {mib(min(r[1] for r in steady)):.0f} MiB, "
          f"median {mib(statistics.median(r[1] for r in steady)):.0f} MiB, max {mib(max(r[1] for r in steady)):.0f} MiB; "
          f"first quarter {mib(first):.0f} MiB -> last quarter {mib(last):.0f} MiB ({growth:+.1f}%, limit {max_growth}%)")
    sf, sl = statistics.mean(r[3] for r in steady[:q]), statistics.mean(r[3] for r in steady[-q:])
    print(f"engine state estimate (tocsin_state_bytes): first quarter {mib(sf / 1024):.1f} MiB -> last quarter {mib(sl / 1024):.1f} MiB")
    ok = ok and growth <= max_growth
else:
    print("steady state: too few samples after warm-up to judge")
    ok = False
print(f"samples: {path}")
print("verdict:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
EOF

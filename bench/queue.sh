#!/usr/bin/env bash
# Queue benchmark (issue 5): one queue with 50 agents (static members, strategy rrmemory)
# and 500 callers waiting at once, each hearing music on hold from the media engine with a
# position/hold-time announcement every ANNOUNCE seconds, while 50 more callers talk to the
# agents through the relay. The project's loadgen plays both sides: its UAS side registers
# the agents and answers every INVITE; its UAC side calls the queue's extension (--to) and
# streams G.711 both ways (--rtp), so the relay latches and the callers' receivers measure
# the pacing of what they hear. Two runs on the same server: `talks` (only the 50 callers
# the agents answer: the baseline) and `queue` (50 talking + 500 waiting); the difference
# is what the waiting callers cost. All on 127.0.0.1; every step bounded in count and time.
#
#   bash bench/queue.sh            # full run (about 2 min)
#   QUICK=1 bash bench/queue.sh    # 10 agents, 100 waiting, short window (under 1 min)
#
# Knobs (environment): AGENTS WAITING CPS MEASURE_S ANNOUNCE STRATEGY RTP_THREADS
# SETTLE_MS FIFO PHONES_FIFO NO_BUILD=1 SKIP_BASE=1 OUT=dir VPBX_PORT HTTP_PORT SIP_PORT. The tables again from
# a run's raw results: python3 bench/queue_report.py OUT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$CARGO_TARGET_DIR/release"

if [[ "${QUICK:-0}" == 1 ]]; then
  AGENTS="${AGENTS:-10}" WAITING="${WAITING:-100}" MEASURE_S="${MEASURE_S:-6}" ANNOUNCE="${ANNOUNCE:-3}"
fi
AGENTS="${AGENTS:-50}"         # static members of the queue (users 1000…)
WAITING="${WAITING:-500}"      # callers waiting at once during the window
CPS="${CPS:-50}"               # callers arriving per second while the queue fills
MEASURE_S="${MEASURE_S:-20}"   # the steady window
ANNOUNCE="${ANNOUNCE:-10}"     # announce_frequency (s): music, then position and hold time
STRATEGY="${STRATEGY:-rrmemory}"
RTP_THREADS="${RTP_THREADS:-2}"
SETTLE_MS="${SETTLE_MS:-2000}" # after the last caller is answered, before the window
FIFO="${FIFO:-0}"              # [media] realtime_priority of the relay workers (0: normal scheduling)
PHONES_FIFO="${PHONES_FIFO:-0}" # loadgen under chrt -f PHONES_FIFO (root; 0: normal scheduling)
VPBX_PORT="${VPBX_PORT:-5078}" HTTP_PORT="${HTTP_PORT:-18084}" SIP_PORT="${SIP_PORT:-5096}"
QUEUE_EXT=7000 DOMAIN=q.bench.test
CALLERS=$((AGENTS + WAITING))  # one call per caller (users 2000…)
OUT="${OUT:-$(mktemp -d /tmp/vpbx-queue.XXXXXX)}"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
PIDS=()
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

if [[ "${NO_BUILD:-0}" != 1 ]]; then
  log "building release binaries (vpbx, loadgen) into $CARGO_TARGET_DIR"
  (cd "$ROOT" && cargo build --release -q -p vpbx -p loadgen)
fi
[[ -d /usr/share/asterisk/moh ]] || log "warning: no /usr/share/asterisk/moh (apt-get install asterisk-moh-opsound-wav): the queue has no music"

A="$OUT/vpbx"
mkdir -p "$A/data"
cat >"$A/vpbx.toml" <<EOF
data_dir = "$A/data"
database = "sqlite://$A/data/vpbx.db"
[sip]
listen = ["udp:127.0.0.1:$VPBX_PORT"]
[media]
ip = "127.0.0.1"
ports = "16000-47999"
realtime_priority = $FIFO
[http]
listen = "127.0.0.1:$HTTP_PORT"
[security]
trusted_networks = ["127.0.0.0/8"]
[trace]
max_messages = 0
EOF
V=("$BIN/vpbx" --config "$A/vpbx.toml")
"${V[@]}" tenant create "$DOMAIN" >/dev/null
awk -v na="$AGENTS" -v nc="$CALLERS" -v q="$QUEUE_EXT" -v st="$STRATEGY" -v an="$ANNOUNCE" -v dom="$DOMAIN" 'BEGIN {
  print "domain: " dom; print "language: en"; print "users:"
  for (u = 0; u < na; u++) { e = 1000 + u; printf "  - {ext: \"%d\", name: \"Agent %d\", secret: \"secret-0-%d\"}\n", e, e, e }
  for (u = 0; u < nc; u++) { e = 2000 + u; printf "  - {ext: \"%d\", name: \"Caller %d\", secret: \"secret-0-%d\"}\n", e, e, e }
  print "queues:"
  printf "  - ext: \"%s\"\n    name: Bench\n    strategy: %s\n    member_timeout: 15\n    retry: 1\n    wrapup: 0\n", q, st
  printf "    announce_frequency: %d\n    announce_position: true\n    announce_holdtime: true\n    members: [", an
  for (u = 0; u < na; u++) printf "%s\"%d\"", (u ? ", " : ""), 1000 + u
  print "]"
}' >"$A/tenant.yaml"
"${V[@]}" tenant apply "$A/tenant.yaml" >/dev/null
"${V[@]}" serve >"$A/serve.log" 2>&1 &
VPBX_PID=$!; PIDS+=("$VPBX_PID")
for _ in $(seq 1 40); do
  "$BIN/loadgen" --server "127.0.0.1:$VPBX_PORT" --domains "$DOMAIN" --users 1 --count 1 --max-attempts 1 \
    --t1-ms 400 --time-limit-s 1 --expires 60 2>/dev/null | grep -q '"ok":1' && break
  sleep 0.5
done
kill -0 "$VPBX_PID" || { log "vpbx did not start"; cat "$A/serve.log" >&2; exit 1; }
awk '/VmRSS/ {print $2}' "/proc/$VPBX_PID/status" >"$OUT/rss-start.kb"

# The queue as the server sees it, every 2 s while a run lasts (bounded): time, callers
# waiting, agents by state.
sample_queue() { # LABEL SECONDS
  local label=$1 n=$(($2 / 2 + 1)) i
  for ((i = 0; i < n; i++)); do
    kill -0 "$VPBX_PID" 2>/dev/null || return 0
    "${V[@]}" queue show "$DOMAIN" --json 2>/dev/null >"$OUT/show.tmp" || true
    # vpbx's threads: ns on a CPU and ns runnable but waiting for one (schedstat), summed.
    sched=$(cat /proc/"$VPBX_PID"/task/*/schedstat 2>/dev/null | awk '{r += $1; w += $2} END {printf "%.0f %.0f\n", r, w}')
    python3 - "$OUT/show.tmp" "$label" "$(date +%s.%N)" "$sched" "$(cut -d' ' -f1 /proc/loadavg)" "$(awk '/^cpu / {print $9}' /proc/stat)" >>"$OUT/queue-show.jsonl" <<'EOF' || true
import json, sys
q = json.load(open(sys.argv[1]))[0]
states = {}
for a in q["agents"]:
    states[a["state"]] = states.get(a["state"], 0) + 1
print(json.dumps({"label": sys.argv[2], "t": float(sys.argv[3]), "waiting": len(q["waiting"]),
                  "agents": states, "answered": sum(a["answered"] for a in q["agents"]),
                  "longest_wait_s": max([w["wait_s"] for w in q["waiting"]] or [0]),
                  "run_ns": int(sys.argv[4].split()[0]), "wait_ns": int(sys.argv[4].split()[1]), "load1": float(sys.argv[5]), "steal_ticks": int(sys.argv[6])}))
EOF
    cp "$OUT/show.tmp" "$OUT/show-$label-last.json" 2>/dev/null || true
    sleep 2
  done
}

# One run: N callers arrive at CPS and hold until after the window; the agents' calls end
# when their callers hang up.
run() { # LABEL N
  local label=$1 n=$2 fill_ms hold_ms limit
  fill_ms=$((n * 1000 / CPS))
  hold_ms=$((fill_ms + SETTLE_MS + MEASURE_S * 1000 + 3000))
  limit=$((hold_ms / 1000 + 20))
  log "$label: $n callers at $CPS/s into queue $QUEUE_EXT ($AGENTS agents), hold $((hold_ms / 1000)) s, window $MEASURE_S s"
  sample_queue "$label" $((hold_ms / 1000 + 4)) &
  local sampler=$!
  local chrt=()
  ((PHONES_FIFO > 0)) && chrt=(chrt -f "$PHONES_FIFO")
  "${chrt[@]}" "$BIN/loadgen" calls --server "127.0.0.1:$VPBX_PORT" --domains "$DOMAIN" --callees "$AGENTS" --callers "$CALLERS" \
    --to "$QUEUE_EXT" --sip-port "$SIP_PORT" --rtp --rtp-threads "$RTP_THREADS" --measure-pid "$VPBX_PID" \
    --label "$label" --count "$n" --cps "$CPS" --max-concurrent "$n" --hold-ms "$hold_ms" \
    --measure-s "$MEASURE_S" --settle-ms "$SETTLE_MS" --time-limit-s "$limit" \
    2>"$OUT/loadgen-$label.err" >>"$RESULTS" ||
    echo "{\"label\":\"$label\",\"error\":\"loadgen exited $?\"}" >>"$RESULTS"
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  grep -E '^(calls|rtp)' "$OUT/loadgen-$label.err" | sed 's/^/  /' >&2 || true
  sed -n 's/.*window starts at .*Unix time \([0-9.]*\).*/\1/p' "$OUT/loadgen-$label.err" | head -1 >"$OUT/window-$label.start"
  sed -n 's/.*window ends at .*Unix time \([0-9.]*\).*/\1/p' "$OUT/loadgen-$label.err" | head -1 >"$OUT/window-$label.end"
  sleep 2
}
log "output in $OUT; $(uptime)"
: >"$OUT/queue-show.jsonl"
[[ "${SKIP_BASE:-0}" == 1 ]] || run talks "$AGENTS"
run queue "$CALLERS"
curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^vpbx_(calls|relay|media|queue)' >"$OUT/metrics.txt" || true
grep -ciE 'error|panic' "$A/serve.log" >"$OUT/serve-errors.count" || true
uptime >"$OUT/uptime.txt"

printf 'AGENTS=%s\nWAITING=%s\nANNOUNCE=%s\nSTRATEGY=%s\nFIFO=%s\nPHONES_FIFO=%s\n' "$AGENTS" "$WAITING" "$ANNOUNCE" "$STRATEGY" "$FIFO" "$PHONES_FIFO" >"$OUT/knobs.txt"
python3 "$ROOT/bench/queue_report.py" "$OUT" | tee "$OUT/report.txt"

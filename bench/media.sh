#!/usr/bin/env bash
# Media benchmark (issue 4): concurrent IVR sessions on the relay's media engine (prompt
# playback, inband and RFC 4733 DTMF detection) with their frame lateness and CPU per session;
# the plain relay's CPU per packet and per call as the baseline; recorded calls and the CPU a
# recording adds to a call. In-process load generators (crates/pbx-relay/examples), all on
# 127.0.0.1; every step bounded in time. See bench/README.md.
#
#   bash bench/media.sh            # full run (about 5 min)
#   QUICK=1 bash bench/media.sh    # small run (under 1 min)
#
# Knobs (environment): SESSIONS MEASURE_S WORKERS REPEAT FIFO PHONES_FIFO CALLS NO_BUILD=1
# OUT=dir. FIFO=0 skips the real-time runs (they need root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$CARGO_TARGET_DIR/release/examples"

if [[ "${QUICK:-0}" == 1 ]]; then
  SESSIONS="${SESSIONS:-1000}" MEASURE_S="${MEASURE_S:-5}" REPEAT="${REPEAT:-1}" CALLS="${CALLS:-500}"
fi
SESSIONS="${SESSIONS:-1000}"   # concurrent IVR sessions
MEASURE_S="${MEASURE_S:-20}"   # measured interval per run (after a 2 s warm-up)
WORKERS="${WORKERS:-2}"        # relay worker threads (one per core)
REPEAT="${REPEAT:-2}"          # runs per configuration (the machine is shared: figures vary)
FIFO="${FIFO:-20}"             # SCHED_FIFO priority of the relay workers in the real-time runs; 0 = skip
PHONES_FIFO="${PHONES_FIFO:-10}" # ... and of the generator/receiver threads (below the workers)
CALLS="${CALLS:-500 1000}"     # bridged calls for the relay baseline and the recording runs
OUT="${OUT:-$(mktemp -d /tmp/vpbx-media.XXXXXX)}"
mkdir -p "$OUT"
RESULTS="$OUT/results.txt"
: >"$RESULTS"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if [[ "${NO_BUILD:-0}" != 1 ]]; then
  log "building the load generators (release) into $CARGO_TARGET_DIR"
  (cd "$ROOT" && cargo build --release -q -p pbx-relay --examples)
fi
[[ -d /usr/share/asterisk/sounds/en_US_f_Allison ]] ||
  log "no Asterisk prompts (Debian asterisk-core-sounds-en-wav): app_load plays a synthetic speech-like signal"
if [[ "$FIFO" != 0 && "$(id -u)" != 0 ]]; then
  log "not root: skipping the SCHED_FIFO runs"; FIFO=0
fi

N=0
run() { # LABEL TIME-LIMIT CMD… -> appends "LABEL key=value…" to $RESULTS (full output in $OUT)
  local label=$1 limit=$2 line out; shift 2
  N=$((N + 1)); out="$OUT/$N-${label//\//-}.txt"
  timeout "$limit" "$@" >"$out" 2>>"$OUT/stderr.txt" || true
  line=$(head -1 "$out")
  [[ -n "$line" ]] || line="error=exited_without_figures"
  echo "$label $line" >>"$RESULTS"
}

limit=$((MEASURE_S + 60))
log "output in $OUT; $(uptime)"
for ((r = 1; r <= REPEAT; r++)); do
  log "IVR: $SESSIONS sessions, $WORKERS workers, normal scheduling (run $r)"
  run "ivr/normal" "$limit" "$BIN/app_load" "$SESSIONS" "$MEASURE_S" "$WORKERS" 30000 0 0
  if [[ "$FIFO" != 0 ]]; then
    log "IVR: $SESSIONS sessions, workers SCHED_FIFO $FIFO, generator/receiver SCHED_FIFO $PHONES_FIFO (run $r)"
    run "ivr/fifo" "$limit" "$BIN/app_load" "$SESSIONS" "$MEASURE_S" "$WORKERS" 30000 "$FIFO" "$PHONES_FIFO"
  fi
done

# The relay alone (no media engine): the baseline of the recording runs. vpbx as a whole
# (SIP + relay) against rtpengine is bench/calls.sh.
for n in $CALLS; do
  for ((r = 1; r <= REPEAT; r++)); do
    log "relay: $n bridged calls, no recording (run $r)"
    run "relay/plain" "$limit" "$BIN/relay_load" "$n" "$MEASURE_S" "$WORKERS" 20000
    # ---- recorded calls -----------------------------------------------------------------
    # `relay_load --record` records every call (Relay::start_call_recording, 8 kHz stereo
    # chunks about once a second to a sink that keeps only their length).
    if grep -q 'fn start_call_recording' "$ROOT/crates/pbx-relay/src/lib.rs"; then
      log "relay: $n bridged calls, every call recorded (run $r)"
      run "relay/record" "$limit" "$BIN/relay_load" "$n" "$MEASURE_S" "$WORKERS" 20000 --record
    elif ((r == 1)); then
      log "recorded calls: skipped, the relay has no call recording (Relay::start_call_recording) yet"
    fi
  done
done

# ---------------------------------------------------------------- report
python3 - "$RESULTS" <<'EOF'
import sys
rows = []
for line in open(sys.argv[1]):
    label, _, rest = line.strip().partition(" ")
    kv = dict(p.split("=", 1) for p in rest.split() if "=" in p)
    rows.append((label, kv))
def num(kv, k):
    try: return float(kv[k])
    except (KeyError, ValueError): return None
def f(x, fmt):
    return "-" if x is None else fmt % x
print("IVR sessions: prompt playback, inband + RFC 4733 DTMF detection, caller audio 50 packets/s")
print("%-11s %8s %12s %11s %7s %7s %8s %8s %9s %7s %8s %11s %17s" % ("run", "sessions", "%core/sess", "us CPU/s/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "% >20 ms", "wait %", "steal %", "rx p99.9 ms", "load start→end"))
for label, kv in rows:
    if not label.startswith("ivr/"): continue
    if "error" in kv: print("%-11s %s" % (label, kv["error"])); continue
    ms = lambda k: f(num(kv, k) and num(kv, k) / 1000, "%.1f")
    print("%-11s %8s %12s %11s %7s %7s %8s %8s %9s %7s %8s %11s %17s" % (label[4:], kv.get("sessions"),
          f(num(kv, "core_pct_per_session"), "%.4f"), f(num(kv, "us_cpu_per_session_s"), "%.0f"),
          ms("engine_p50_us"), ms("engine_p99_us"), ms("engine_p999_us"), ms("engine_max_us"),
          f(num(kv, "engine_over20ms_pct"), "%.4f"), f(num(kv, "relay_runqueue_wait_pct"), "%.0f"), f(num(kv, "steal_pct"), "%.1f"),
          ms("rx_jitter_p999_us"), kv.get("load_start", "?").split(",")[0] + "→" + kv.get("load_end", "?").split(",")[0]))
for label, kv in rows:
    if label.startswith("ivr/") and "error" not in kv:
        if kv.get("generator_pps") and kv.get("wanted_pps") and float(kv["generator_pps"]) < 0.98 * float(kv["wanted_pps"]):
            print("  note: %s run, the generator sent %s of %s packets/s (it shares the cores)" % (label[4:], kv["generator_pps"], kv["wanted_pps"]))
print("target: >= 1,000 sessions, p99.9 <= 5 ms, <= 0.01 % of frames > 20 ms late")
print()
rel = [(l, kv) for l, kv in rows if l.startswith("relay/")]
if rel:
    print("Bridged calls through the relay alone (PCMU, 50 packets/s each way per call)")
    print("%-13s %6s %10s %8s %8s %14s %11s %9s %12s %6s" % ("run", "calls", "pkts/s", "wanted", "us/pkt", "us CPU/call-s", "recorded s", "chunks", "RSS kB/call", "load"))
    for label, kv in rel:
        if "error" in kv: print("%-13s %s" % (label, kv["error"])); continue
        up = num(kv, "us_per_pkt")
        print("%-13s %6s %10s %8d %8s %14s %11s %9s %12s %6s" % (label[6:], kv.get("calls"), kv.get("relayed_pps"),
              int(kv.get("calls", 0)) * 100, f(up, "%.2f"), f(up and up * 100, "%.0f"),
              kv.get("recorded_call_s", "-"), kv.get("recording_chunks", "-"), kv.get("rss_kib_per_call", "-"),
              kv.get("load_end", "-").split(",")[0]))
    def mean(name, n):
        v = [num(kv, "us_per_pkt") for l, kv in rel if l == name and kv.get("calls") == n and num(kv, "us_per_pkt") is not None]
        return sum(v) / len(v) if v else None
    any_rec = False
    for n in sorted({kv.get("calls") for _, kv in rel}, key=lambda x: int(x or 0)):
        plain, rec = mean("relay/plain", n), mean("relay/record", n)
        if plain is None or rec is None: continue
        any_rec = True
        spread = [num(kv, "us_per_pkt") for l, kv in rel if l == "relay/plain" and kv.get("calls") == n]
        print("%s calls: a recording adds %.0f us of worker CPU per call-second (%+.2f us per packet, %+.1f %% on a relayed call;"
              " plain runs spread %.2f us/pkt)" % (n, (rec - plain) * 100, rec - plain, (rec - plain) / plain * 100, max(spread) - min(spread)))
    if not any_rec:
        print("recorded calls: not measured (the relay has no call recording in this build)")
print()
print("%core/sess: relay worker threads' run time (/proc/self/task/*/schedstat) over the interval / sessions, % of one core;")
print("  us CPU/s/s: the same in us of CPU per session-second. p50..max: engine frame lateness (how long after its 1 ms slot")
print("  each frame left the worker) over the measured interval, all workers. wait %: time the workers were runnable but")
print("  waiting for a CPU (other load). steal %: CPU time the hypervisor gave to other guests (/proc/stat; it comes in")
print("  multi-ms gaps no priority can avoid). rx p99.9: arrival jitter at the phones against each leg's 20 ms grid.")
EOF
echo "load at the end: $(uptime) (other processes on the 2 cores inflate every CPU figure and the lateness of normal runs)"
echo "raw: $RESULTS"

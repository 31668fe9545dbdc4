#!/usr/bin/env bash
# Outbound-call benchmark (issue 5): authenticated calls from users of one tenant to outside
# numbers (outbound prefix 99, Russian national dialing), decided by the platform's
# directions (numbering tables, digit rules, block-list), checked against the fraud caps
# (limits per tenant and user, in progress and per hour) and the trunk's call limit, and
# sent through a trunk to a carrier: the project's loadgen answers every INVITE on the trunk's
# address. The same calls between two users of the tenant run in the same script, so the
# difference is what the outside path costs. All on 127.0.0.1; every step bounded.
#
#   bash bench/outbound.sh           # full run (about 1 min)
#   QUICK=1 bash bench/outbound.sh   # small run
#
# Knobs (environment): CPS COUNT HOLD_MS USERS NO_BUILD=1 OUT=dir VPBX_PORT HTTP_PORT SIP_PORT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$CARGO_TARGET_DIR/release"

if [[ "${QUICK:-0}" == 1 ]]; then
  CPS="${CPS:-100}" COUNT="${COUNT:-300}"
fi
CPS="${CPS:-500}"          # calls started per second
COUNT="${COUNT:-5000}"     # calls per run
HOLD_MS="${HOLD_MS:-1000}" # 200 → BYE
USERS="${USERS:-1000}"     # callers 2000…, callees 1000… (internal runs)
VPBX_PORT="${VPBX_PORT:-5077}" HTTP_PORT="${HTTP_PORT:-18083}" SIP_PORT="${SIP_PORT:-5094}"
OUT="${OUT:-$(mktemp -d /tmp/vpbx-outbound.XXXXXX)}"
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
[http]
listen = "127.0.0.1:$HTTP_PORT"
[security]
trusted_networks = ["127.0.0.0/8"]
[trace]
max_messages = 0
EOF
V=("$BIN/vpbx" --config "$A/vpbx.toml")
"${V[@]}" tenant create t0.bench.test >/dev/null
# The trunk is the loadgen's answering side (its UAS port): no credentials, it answers all.
cat >"$A/platform.yaml" <<EOF
trunks:
  - {name: carrier, tenant: t0.bench.test, host: 127.0.0.1, port: $SIP_PORT, register: false,
     qualify: false, call_limit: 100000, prefixes: {regional: "8", international: "810"},
     strip_regional: 1}
numbers:
  - {number: "+74952216005", tenant: t0.bench.test, trunk: carrier}
directions:
  - {number: "+74952216005", trunk: carrier, class: regional}
  - {number: "+74952216005", trunk: carrier, class: international, pattern: "_39."}
EOF
"${V[@]}" platform apply "$A/platform.yaml" >/dev/null
awk -v nu="$USERS" 'BEGIN {
  print "domain: t0.bench.test"; print "country: RU"
  print "limits: {max_external_calls: 100000, external_calls_per_hour: 10000000}"
  print "outbound: {prefix: \"99\", number: \"+74952216005\"}"
  print "users:"
  for (b = 1000; b <= 2000; b += 1000)
    for (u = 0; u < nu; u++) { e = b + u; printf "  - {ext: \"%d\", name: \"User %d\", secret: \"secret-0-%d\", max_external_calls: 10, external_calls_per_hour: 100000}\n", e, e, e }
}' >"$A/t0.yaml"
"${V[@]}" tenant apply "$A/t0.yaml" >/dev/null
"${V[@]}" serve >"$A/serve.log" 2>&1 &
VPBX_PID=$!; PIDS+=("$VPBX_PID")
for _ in $(seq 1 40); do
  "$BIN/loadgen" --server "127.0.0.1:$VPBX_PORT" --tenants 1 --users 1 --count 1 --max-attempts 1 \
    --t1-ms 400 --time-limit-s 1 --expires 60 2>/dev/null | grep -q '"ok":1' && break
  sleep 0.5
done
"${V[@]}" route t0.bench.test --from 2000 --to 9989257410000 | sed 's/^/  route: /' >&2

calls() { # LABEL [loadgen calls args…]
  local label=$1; shift
  "$BIN/loadgen" calls --server "127.0.0.1:$VPBX_PORT" --tenants 1 --callers "$USERS" \
    --sip-port "$SIP_PORT" --measure-pid "$VPBX_PID" --label "$label" --count "$COUNT" --cps "$CPS" \
    --max-concurrent $((CPS * (HOLD_MS + 2000) / 1000 + 100)) --hold-ms "$HOLD_MS" \
    --time-limit-s $((COUNT / CPS + 30)) "$@" 2>>"$OUT/loadgen.err" >>"$RESULTS" ||
    echo "{\"label\":\"$label\",\"error\":\"loadgen exited $?\"}" >>"$RESULTS"
}
log "output in $OUT; $(uptime)"
for r in 1 2; do
  log "internal: $COUNT calls at $CPS/s between users (run $r)"
  calls "internal" --callees "$USERS"
  sleep 1
  # Callee k dials 99 + 8 925 741-00-00 + k: regional, 89257410000+k on the trunk.
  log "outside: $COUNT calls at $CPS/s through the trunk (run $r)"
  calls "outside" --no-register --callee-base 9989257410000 --callees "$USERS"
  sleep 1
done
curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^vpbx_(outbound|trunk_calls|emergency)' >"$OUT/metrics.txt" || true

python3 - "$RESULTS" "$OUT/metrics.txt" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("Outside calls through a trunk vs calls between users (1 tenant, hold 1 s, no RTP)")
print("%-9s %8s %9s %7s %8s %10s %10s %16s" % ("run", "calls", "answered", "failed", "calls/s", "p50 ms", "p99 ms", "server us/call"))
per = {}
for r in rows:
    if "error" in r:
        print("%-9s %s" % (r["label"], r["error"])); continue
    us = r.get("server_cpu_us_per_call")
    per.setdefault(r["label"], []).append(us)
    print("%-9s %8d %9d %7d %8.0f %10.2f %10.2f %16s" % (r["label"], r["attempted"], r["answered"], r["failed"],
          r["cps"], r["setup_p50_ms"], r["setup_p99_ms"], "-" if us is None else "%.0f" % us))
def mean(k):
    v = [x for x in per.get(k, []) if x is not None]
    return sum(v) / len(v) if v else None
i, o = mean("internal"), mean("outside")
if i and o:
    print("the outside path costs %+.0f us of server CPU per call (%+.1f %%): decision, caps, trunk INVITE" % (o - i, (o - i) / i * 100))
print("metrics:", " ".join(l.strip() for l in open(sys.argv[2])))
print("server us/call: vpbx utime+stime (/proc/PID/stat) over the run / calls, including both call legs,")
print("  the call record and the relay legs; the load generator shares the 2 cores.")
EOF

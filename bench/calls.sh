#!/usr/bin/env bash
# Call benchmark (issue 3): authenticated calls between registered users with
# G.711 RTP at 50 packets/s each way, through vpbx and, with the same packet
# load in the same run, through rtpengine (userspace, driven over its ng
# protocol). All traffic on 127.0.0.1; every step bounded in count and time.
# See bench/README.md.
#
#   bash bench/calls.sh            # full run (about 4 min on 2 cores)
#   QUICK=1 bash bench/calls.sh    # small run (about 1 min)
#
# Knobs (environment): CPS CPS_SECONDS HOLD_MS RTP_CALLS MEASURE_S TENANTS
# RTP_THREADS SKIP_VPBX=1 SKIP_RTPENGINE=1 SKIP_KAMAILIO=1 NO_BUILD=1 OUT=dir
# VPBX_PORT KAM_PORT HTTP_PORT RTPE_NG SIP_PORT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$CARGO_TARGET_DIR/release"

if [[ "${QUICK:-0}" == 1 ]]; then
  CPS="${CPS:-200}" CPS_SECONDS="${CPS_SECONDS:-3}" RTP_CALLS="${RTP_CALLS:-50 100}" MEASURE_S="${MEASURE_S:-3}"
fi
CPS="${CPS:-1000}"                 # call setup rate target (calls/s), 1-second calls
CPS_SECONDS="${CPS_SECONDS:-5}"    # seconds of call starts at that rate
HOLD_MS="${HOLD_MS:-1000}"         # hold time of the setup-rate calls
RTP_CALLS="${RTP_CALLS:-250 500 1000}" # concurrent calls with RTP
MEASURE_S="${MEASURE_S:-10}"       # steady-state window per RTP step
TENANTS="${TENANTS:-10}"
RTP_THREADS="${RTP_THREADS:-2}"    # loadgen RTP threads
VPBX_PORT="${VPBX_PORT:-5075}" KAM_PORT="${KAM_PORT:-5085}" HTTP_PORT="${HTTP_PORT:-18081}"
RTPE_NG="${RTPE_NG:-22223}" SIP_PORT="${SIP_PORT:-5090}"
OUT="${OUT:-$(mktemp -d /tmp/vpbx-calls.XXXXXX)}"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
PIDS=()

# Users per tenant: enough callees that no callee is in two calls at once
# (vpbx busy_level defaults to 1), the same number of callers.
max_rtp=0; for n in $RTP_CALLS; do ((n > max_rtp)) && max_rtp=$n; done
conc_cps=$((CPS * (HOLD_MS + 1500) / 1000))
need_users=$(((max_rtp > conc_cps ? max_rtp : conc_cps) * 12 / 10 / TENANTS + 1))
USERS="${USERS:-$need_users}"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

need() { # need CMD DEBIAN-PACKAGE
  command -v "$1" >/dev/null && return 0
  log "installing $2"
  apt-get install -y --no-install-recommends "$2" >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "$2" >/dev/null; }
}
[[ "${SKIP_RTPENGINE:-0}" == 1 ]] || need rtpengine rtpengine-daemon
[[ "${SKIP_KAMAILIO:-0}" == 1 ]] || need kamailio kamailio

if [[ "${NO_BUILD:-0}" != 1 ]]; then
  log "building release binaries (vpbx, loadgen) into $CARGO_TARGET_DIR"
  (cd "$ROOT" && cargo build --release -q -p vpbx -p loadgen)
fi

# Every loadgen calls run registers the same users from the same two ports
# (SIP_PORT callees, SIP_PORT+1 callers), so later runs refresh the contacts.
calls() { # SERVER-PORT LABEL PID [loadgen calls args…] -> appends one JSON line
  local port=$1 label=$2 pid=$3; shift 3
  "$BIN/loadgen" calls --server "127.0.0.1:$port" --tenants "$TENANTS" --callees "$USERS" --callers "$USERS" \
    --sip-port "$SIP_PORT" --rtp-threads "$RTP_THREADS" --measure-pid "$pid" --label "$label" "$@" \
    2>>"$OUT/loadgen.err" >>"$RESULTS" || echo "{\"label\":\"$label\",\"error\":\"loadgen exited $?\"}" >>"$RESULTS"
}

write_tenants() { # DIR: one YAML per tenant, callees 1000…, callers 2000…
  mkdir -p "$1"
  awk -v nt="$TENANTS" -v nu="$USERS" -v dir="$1" 'BEGIN {
    for (t = 0; t < nt; t++) {
      f = dir "/t" t ".yaml"
      print "domain: t" t ".bench.test" > f
      print "users:" > f
      for (b = 1000; b <= 2000; b += 1000)
        for (u = 0; u < nu; u++) { e = b + u; printf "  - {ext: \"%d\", name: \"User %d\", secret: \"secret-%d-%d\"}\n", e, e, t, e > f }
      close(f)
    } }'
}

# ---------------------------------------------------------------- vpbx
run_vpbx() {
  local A="$OUT/vpbx" t n hold ramp
  mkdir -p "$A/data"
  cat >"$A/vpbx.toml" <<EOF
data_dir = "$A/data"
database = "sqlite://$A/data/vpbx.db"
[sip]
listen = ["udp:127.0.0.1:$VPBX_PORT"]
[media]
ip = "127.0.0.1"
ports = "16000-47999"   # 16 000 pairs: ~2 000 calls up at 1 000 calls/s plus the pairs resting 2 s after release
[http]
listen = "127.0.0.1:$HTTP_PORT"
[security]
trusted_networks = ["127.0.0.0/8"]
[trace]
max_messages = 0
EOF
  write_tenants "$A/yaml"
  log "vpbx: $TENANTS tenants x $((2 * USERS)) users"
  for ((t = 0; t < TENANTS; t++)); do "$BIN/vpbx" --config "$A/vpbx.toml" tenant apply "$A/yaml/t$t.yaml" >/dev/null; done
  "$BIN/vpbx" --config "$A/vpbx.toml" serve >"$A/serve.log" 2>&1 &
  VPBX_PID=$!; PIDS+=("$VPBX_PID")
  for _ in $(seq 1 20); do
    "$BIN/loadgen" --server "127.0.0.1:$VPBX_PORT" --tenants 1 --users 1 --count 1 --max-attempts 1 \
      --t1-ms 400 --time-limit-s 1 --expires 60 2>/dev/null | grep -q '"ok":1' && break
    sleep 0.5
  done
  # Memory per call is measured against the idle server with every user registered
  # and no call yet (the first RTP step's "before"): the RTP steps run first, the
  # setup-rate run (which leaves allocator pages behind) last.
  for n in $RTP_CALLS; do
    ramp=$((n * 1000 / (n < 500 ? 250 : 500)))
    hold=$((ramp + 1000 + MEASURE_S * 1000 + 2000))
    log "vpbx: $n concurrent calls with RTP, window $MEASURE_S s"
    calls "$VPBX_PORT" "vpbx/rtp$n" "$VPBX_PID" --count "$n" --cps $((n < 500 ? 250 : 500)) --max-concurrent "$n" \
      --hold-ms "$hold" --rtp --measure-s "$MEASURE_S" --time-limit-s $((hold / 1000 + 30))
    sleep 1
  done
  log "vpbx: $((CPS * CPS_SECONDS)) calls at $CPS/s, hold $HOLD_MS ms, no RTP"
  calls "$VPBX_PORT" "vpbx/cps" "$VPBX_PID" --count $((CPS * CPS_SECONDS)) --cps "$CPS" \
    --max-concurrent $((conc_cps + CPS)) --hold-ms "$HOLD_MS" --time-limit-s $((CPS_SECONDS + 30))
  kill "$VPBX_PID" 2>/dev/null || true; wait "$VPBX_PID" 2>/dev/null || true
}

# ---------------------------------------------------------------- rtpengine
run_rtpengine() {
  local R="$OUT/rtpengine" n
  mkdir -p "$R"
  rtpengine --foreground --table=-1 --interface=127.0.0.1 --listen-ng="127.0.0.1:$RTPE_NG" \
    --port-min=30000 --port-max=39999 --log-level=4 --log-stderr >"$R/rtpengine.log" 2>&1 &
  RTPE_PID=$!; PIDS+=("$RTPE_PID")
  sleep 1.5
  for n in $RTP_CALLS; do
    log "rtpengine: $n calls with RTP, window $MEASURE_S s"
    "$BIN/loadgen" rtpengine --ng "127.0.0.1:$RTPE_NG" --calls "$n" --measure-s "$MEASURE_S" \
      --measure-pid "$RTPE_PID" --rtp-threads "$RTP_THREADS" --label "rtpengine/rtp$n" \
      2>>"$OUT/loadgen.err" >>"$RESULTS" || echo "{\"label\":\"rtpengine/rtp$n\",\"error\":\"loadgen exited\"}" >>"$RESULTS"
    sleep 1
  done
  kill "$RTPE_PID" 2>/dev/null || true; wait "$RTPE_PID" 2>/dev/null || true
}

# ---------------------------------------------------------------- Kamailio
# Proof of the call flow through a real proxy: 407 digest on INVITE,
# Record-Route, ACK/BYE by the route set; media flows end to end directly.
run_kamailio() {
  local K="$OUT/kamailio"
  mkdir -p "$K/run"
  cat >"$K/kamailio.cfg" <<EOF
#!KAMAILIO
debug=1
log_stderror=yes
children=2
listen=udp:127.0.0.1:$KAM_PORT
auto_aliases=no
max_while_loops=$((TENANTS * USERS * 2 + 10))
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "htable.so"
modparam("htable", "htable", "users=>size=14;")
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "use_domain", 1)
modparam("rr", "enable_full_lr", 1)
event_route[htable:mod-init] {
    \$var(t) = 0;
    while (\$var(t) < $TENANTS) {
        \$var(u) = 0;
        while (\$var(u) < $USERS) {
            \$var(e) = 1000 + \$var(u);
            \$var(k) = "" + \$var(e) + "@t" + \$var(t) + ".bench.test";
            \$sht(users=>\$var(k)) = "secret-" + \$var(t) + "-" + \$var(e);
            \$var(e) = 2000 + \$var(u);
            \$var(k) = "" + \$var(e) + "@t" + \$var(t) + ".bench.test";
            \$sht(users=>\$var(k)) = "secret-" + \$var(t) + "-" + \$var(e);
            \$var(u) = \$var(u) + 1;
        }
        \$var(t) = \$var(t) + 1;
    }
}
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (has_totag()) {
        if (loose_route()) { t_relay(); exit; }
        if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
        sl_send_reply("404", "Not here"); exit;
    }
    if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
    t_check_trans();
    if (is_method("REGISTER")) {
        \$var(pw) = \$sht(users=>\$tU@\$td);
        if (\$sht(users=>\$tU@\$td) == \$null || !pv_www_authenticate("\$td", "\$var(pw)", "0")) {
            www_challenge("\$td", "1"); exit;
        }
        if (!save("location")) { sl_reply_error(); }
        exit;
    }
    if (is_method("INVITE")) {
        \$var(pw) = \$sht(users=>\$fU@\$fd);
        if (\$sht(users=>\$fU@\$fd) == \$null || !pv_proxy_authenticate("\$fd", "\$var(pw)", "0")) {
            proxy_challenge("\$fd", "1"); exit;
        }
        consume_credentials();
        record_route();
    }
    if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
    t_relay();
}
EOF
  kamailio -c -f "$K/kamailio.cfg" >/dev/null 2>&1 || { kamailio -c -f "$K/kamailio.cfg"; return 1; }
  kamailio -f "$K/kamailio.cfg" -DD -E -Y "$K/run" -P "$K/run/kamailio.pid" -m 256 -M 16 >"$K/kamailio.log" 2>&1 &
  KAM_PID=$!; PIDS+=("$KAM_PID")
  sleep 1.5
  log "kamailio: 200 calls at 100/s with RTP through the proxy (proof of the flow)"
  calls "$KAM_PORT" "kamailio/proof" "$KAM_PID" --count 200 --cps 100 --max-concurrent 200 --hold-ms 2000 --rtp --time-limit-s 30
  kill "$KAM_PID" 2>/dev/null || true; wait "$KAM_PID" 2>/dev/null || true
}

log "output in $OUT; $TENANTS tenants x $USERS callees + $USERS callers; $(uptime)"
log "loadgen self-check: 100 direct calls with RTP (no server)"
"$BIN/loadgen" calls --direct --count 100 --cps 100 --max-concurrent 100 --hold-ms 1000 --rtp \
  --label "direct/proof" --time-limit-s 20 2>>"$OUT/loadgen.err" >>"$RESULTS"
[[ "${SKIP_KAMAILIO:-0}" == 1 ]] || run_kamailio
[[ "${SKIP_VPBX:-0}" == 1 ]] || run_vpbx
[[ "${SKIP_RTPENGINE:-0}" == 1 ]] || run_rtpengine

# ---------------------------------------------------------------- report
python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = {}
for r in rows:
    lab = r.get("label", "")
    if "/rtp" in lab and r.get("server_rss_kb_before"):
        base.setdefault(lab.split("/rtp")[0], r["server_rss_kb_before"])
def f(x, fmt="%.2f"):
    return "-" if x is None else fmt % x
def why(r):
    if "error" in r: return r["error"]
    if r.get("registration_failed"): return "%d registrations failed" % r["registration_failed"]
    st = r.get("failed_by_status") or {}
    if st: return "status " + ", ".join("%s x%d" % (k, v) for k, v in sorted(st.items()))
    if r.get("timeouts"): return "%d INVITEs unanswered" % r["timeouts"]
    return "no answer"
print("Call flow proofs and setup rate")
print("%-16s %9s %9s %9s %8s %8s %9s %12s  %s" % ("run", "attempted", "answered", "completed", "p50 ms", "p99 ms", "calls/s", "CPU us/call", "RTP loss %"))
for r in rows:
    if "/rtp" in r.get("label", ""): continue
    name = r.get("label", "?")
    if not r.get("answered"):
        print("%-16s calls not answered (%s)" % (name, why(r))); continue
    rtp = r.get("rtp")
    print("%-16s %9d %9d %9d %8.2f %8.2f %9.0f %12s  %s" % (name, r["attempted"], r["answered"], r["completed"],
          r["setup_p50_ms"], r["setup_p99_ms"], r["cps"], f(r.get("server_cpu_us_per_call"), "%.1f") if name.startswith("vpbx") else "-",
          f(rtp and rtp["loss_pct"], "%.3f")))
print()
print("RTP relay (G.711, 50 packets/s each way per call)")
print("%-16s %6s %10s %10s %12s %12s %8s %12s" % ("relay", "calls", "pkts/s", "expected", "server us/pkt", "loadgen us/pkt", "loss %", "RSS kB/call"))
by = {}
for r in rows:
    lab = r.get("label", "")
    if "/rtp" not in lab: continue
    srv, n = lab.split("/rtp")
    w = r.get("window")
    if "error" in r or not w or (srv == "vpbx" and not r.get("answered")):
        print("%-16s %6s calls not answered (%s)" % (srv, n, why(r))); continue
    loss = r["rtp"]["loss_pct"] if "rtp" in r and r["rtp"] else r.get("loss_pct")
    by[(srv, n)] = w
    if srv == "vpbx" and srv in base and w.get("server_rss_kb"):
        w["server_rss_kb_per_call"] = (w["server_rss_kb"] - base[srv]) / int(n)
    print("%-16s %6s %10.0f %10.0f %12s %12s %8s %12s" % (srv, n, w["rx_per_s"], w["rx_expected_per_s"],
          f(w["server_cpu_us_per_packet"]), f(w["loadgen_cpu_us_per_packet"]), f(loss, "%.3f"), f(w.get("server_rss_kb_per_call"), "%.1f")))
ratios = [(n, by[("vpbx", n)], by[("rtpengine", n)]) for (s, n) in by if s == "vpbx" and ("rtpengine", n) in by]
if ratios:
    print()
    print("vpbx / rtpengine CPU per relayed packet (target <= 1.0):")
    for n, v, e in ratios:
        try: print("  %5s calls: %.2f / %.2f us = %.2f" % (n, v["server_cpu_us_per_packet"], e["server_cpu_us_per_packet"], v["server_cpu_us_per_packet"] / e["server_cpu_us_per_packet"]))
        except (TypeError, ZeroDivisionError): pass
print()
print("server us/pkt: the relay's utime+stime (/proc/PID/stat, all threads) over the window / packets the generator received.")
print("loadgen us/pkt: the generator's own CPU over the window / packets it sent and received. RSS kB/call: (VmRSS with the calls up - before) / calls;")
print("  for vpbx 'before' is the idle server with every user registered, before its first call (so the")
print("  figure includes all the server's growth since, shared by the calls up; the marginal cost is lower).")
EOF
echo "load at the end: $(uptime) (other processes on the 2 cores inflate every CPU figure)"
echo "raw: $RESULTS, $OUT/loadgen.err"

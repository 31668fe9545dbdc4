#!/usr/bin/env bash
# Registration benchmark (issue 2): digest-authenticated REGISTER load against
# vpbx and, with the same load in the same run, against Kamailio (usrloc in
# memory, users in an htable, qop=auth). All traffic stays on 127.0.0.1; every
# load step is bounded in count and time. See bench/README.md.
#
#   bash bench/register.sh            # full run (about 5-8 min on 2 cores)
#   QUICK=1 bash bench/register.sh    # CI-size run (about 1 min)
#
# Knobs (environment): TENANTS USERS IDLE_USERS RATES DURATION CONC FILL_CONC
# SIPP_RATE SIPP_COUNT SIPP_INSTANCES SHARDS THREADS KAM_CHILDREN SKIP_KAMAILIO=1
# SKIP_SIPP=1 SKIP_MEMORY=1 NO_BUILD=1 OUT=dir VPBX_PORT KAM_PORT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$CARGO_TARGET_DIR/release"

if [[ "${QUICK:-0}" == 1 ]]; then
  TENANTS="${TENANTS:-50}" USERS="${USERS:-20}" IDLE_USERS="${IDLE_USERS:-10}"
  RATES="${RATES:-1000 2000}" DURATION="${DURATION:-2}"
  SIPP_RATE="${SIPP_RATE:-500}" SIPP_COUNT="${SIPP_COUNT:-1000}"
fi
TENANTS="${TENANTS:-1000}"        # tenants t0.bench.test … t{TENANTS-1}.bench.test
USERS="${USERS:-100}"             # users per tenant: extensions 1000 …
IDLE_USERS="${IDLE_USERS:-10}"    # users per tenant in the idle-tenant memory test
RATES="${RATES:-2000 4000 8000}"  # loadgen fixed rates (registrations/s)
DURATION="${DURATION:-6}"         # seconds of load per fixed rate
CONC="${CONC:-1000}"              # outstanding registrations at fixed rates
FILL_CONC="${FILL_CONC:-400}"     # outstanding registrations at max rate
SIPP_RATE="${SIPP_RATE:-1000}"    # SIPp calls (REGISTER+401+REGISTER+200) per second, all instances
SIPP_COUNT="${SIPP_COUNT:-10000}"
SIPP_INSTANCES="${SIPP_INSTANCES:-1}"
SHARDS="${SHARDS:-0}"             # vpbx [sip] shards; 0 = four per core
THREADS="${THREADS:-0}"           # vpbx [sip] threads (runtime workers); 0 = one per core
KAM_CHILDREN="${KAM_CHILDREN:-2}" # Kamailio UDP worker processes
VPBX_PORT="${VPBX_PORT:-5070}" KAM_PORT="${KAM_PORT:-5080}" HTTP_PORT="${HTTP_PORT:-18080}"
OUT="${OUT:-$(mktemp -d /tmp/vpbx-bench.XXXXXX)}"
mkdir -p "$OUT"
TCK=$(getconf CLK_TCK)
USERS_TOTAL=$((TENANTS * USERS))
RESULTS="$OUT/results.tsv"
: >"$RESULTS"
PIDS=()

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
[[ "${SKIP_SIPP:-0}" == 1 ]] || need sipp sip-tester
[[ "${SKIP_KAMAILIO:-0}" == 1 ]] || need kamailio kamailio

if [[ "${NO_BUILD:-0}" != 1 ]]; then
  log "building release binaries (vpbx, loadgen) into $CARGO_TARGET_DIR"
  (cd "$ROOT" && cargo build --release -q -p vpbx -p loadgen)
fi

# ---------------------------------------------------------------- helpers
# CPU ticks (utime+stime) summed over the given pids (threads included).
cpu_ticks() {
  local p s=0 t
  for p in "$@"; do
    t=$(awk '{ x=$0; sub(/^.*\) /, "", x); split(x, f, " "); print f[12] + f[13] }' "/proc/$p/stat" 2>/dev/null || echo 0)
    s=$((s + t))
  done
  echo "$s"
}
# Hypervisor steal and all ticks of the machine (/proc/stat "cpu" line): "STEAL TOTAL".
# A step that ran while the host took 5 % of our CPUs away is not comparable to a quiet one.
host_ticks() { awk 'NR == 1 { print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
steal_pct() { # "S0 T0" "S1 T1" -> percent
  local a b; read -ra a <<<"$1"; read -ra b <<<"$2"
  awk -v s="$((b[0] - a[0]))" -v t="$((b[1] - a[1]))" 'BEGIN { printf "%.1f", (t > 0 ? 100 * s / t : 0) }'
}
# Memory in kB: VmRSS for one process; Pss summed for several (Kamailio
# shares its memory between processes, so summing RSS would count it twice).
mem_kb() {
  if [[ $# == 1 ]]; then awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; return; fi
  local p s=0 v
  for p in "$@"; do
    v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    s=$((s + ${v:-0}))
  done
  echo "$s"
}
server_pids() { # NAME -> all pids of that server
  case "$1" in
    vpbx) echo "$VPBX_PID" ;;
    kamailio) echo "$KAM_PID $(pgrep -P "$KAM_PID" | tr '\n' ' ')" ;;
  esac
}
port_of() { [[ "$1" == vpbx ]] && echo "$VPBX_PORT" || echo "$KAM_PORT"; }
wait_udp() { # PORT: wait until a registration succeeds (max 10 s)
  local i
  for i in $(seq 1 20); do
    if "$BIN/loadgen" --server "127.0.0.1:$1" --tenants 1 --users 1 --count 1 --sockets 1 \
      --max-attempts 1 --t1-ms 400 --time-limit-s 1 --expires 60 --ext-base 1000 2>/dev/null | grep -q '"ok":1'; then
      return 0
    fi
    sleep 0.5
  done
  log "server on port $1 did not answer"; return 1
}

# vpbx keeps each completed REGISTER transaction for Timer J (64*T1 = 32 s
# over UDP); wait until the shards' tables are empty (at most 45 s) so the
# memory figure is the contacts', not the transactions'.
wait_txns() {
  local i n
  for i in $(seq 1 90); do
    n=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk '/^vpbx_shard_transactions/ { s += $2 } END { print s + 0 }')
    [[ "$n" == 0 ]] && return 0
    sleep 0.5
  done
  log "transactions still held after 45 s: $n"
}

# run_loadgen SERVER LABEL RATE COUNT CONC [extra loadgen args…] -> prints achieved rate
run_loadgen() {
  local srv=$1 label=$2 rate=$3 count=$4 conc=$5; shift 5
  local pids c0 c1 json
  read -ra pids <<<"$(server_pids "$srv")"
  c0=$(cpu_ticks "${pids[@]}"); h0=$(host_ticks)
  json=$("$BIN/loadgen" --server "127.0.0.1:$(port_of "$srv")" --tenants "$TENANTS" --users "$USERS" \
    --password-pattern 'secret-{t}-{ext}' --count "$count" --rate "$rate" --concurrency "$conc" \
    --sockets 2 --port-base 40000 --time-limit-s 90 --label "$srv/$label" "$@")
  c1=$(cpu_ticks "${pids[@]}"); h1=$(host_ticks)
  echo "$json" >>"$OUT/loadgen.jsonl"
  read -ra pids <<<"$(server_pids "$srv")"
  python3 - "$json" "$c0" "$c1" "$TCK" "$(mem_kb "${pids[@]}")" "$srv" "$label" "$rate" "$(steal_pct "$h0" "$h1")" >>"$RESULTS" <<'EOF'
import json, sys
j = json.loads(sys.argv[1]); c0, c1, tck, mem = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
srv, label, rate, steal = sys.argv[6], sys.argv[7], float(sys.argv[8]), sys.argv[9]
cpu = (c1 - c0) * 1e6 / tck / j["ok"] if j["ok"] else float("nan")
print("\t".join([srv, "loadgen " + label, "max" if rate == 0 else "%d" % rate, "%.0f" % j["rate"],
                 "%.3f" % j["failure_pct"], "%.2f" % j["p50_ms"], "%.2f" % j["p99_ms"], "%.1f" % cpu,
                 "%.1f" % (mem / 1024), str(j["ok"]), str(j["retransmissions"]), steal]))
EOF
  python3 -c 'import json,sys; print("%.0f" % json.loads(sys.argv[1])["rate"])' "$json"
}

# run_sipp SERVER: SIPP_INSTANCES SIPp processes, SIPP_COUNT registrations at SIPP_RATE in total
run_sipp() {
  local srv=$1 pids c0 c1 i t0 t1 d
  d="$OUT/sipp-$srv"; rm -rf "$d"; mkdir -p "$d"
  read -ra pids <<<"$(server_pids "$srv")"
  local per=$((SIPP_COUNT / SIPP_INSTANCES)) r=$((SIPP_RATE / SIPP_INSTANCES)) sp=()
  c0=$(cpu_ticks "${pids[@]}"); t0=$(date +%s.%N); h0=$(host_ticks)
  for i in $(seq 0 $((SIPP_INSTANCES - 1))); do
    (cd "$d" && timeout 120 sipp -sf "$OUT/reg_auth.xml" -inf "$OUT/sipp_users_$i.csv" "127.0.0.1:$(port_of "$srv")" \
      -i 127.0.0.1 -p $((5096 - i)) -m "$per" -r "$r" -l 2000 -nostdin -timeout 100 -timeout_error \
      -trace_stat -stf "stat_$i.csv" -trace_rtt -rtt_freq 1 -trace_err >"sipp_$i.out" 2>&1) &
    sp+=($!)
  done
  for i in "${sp[@]}"; do wait "$i" || true; done
  t1=$(date +%s.%N); c1=$(cpu_ticks "${pids[@]}"); h1=$(host_ticks)
  read -ra pids <<<"$(server_pids "$srv")"
  python3 - "$d" "$c0" "$c1" "$TCK" "$(mem_kb "${pids[@]}")" "$srv" "$SIPP_RATE" "$SIPP_COUNT" "$t0" "$t1" "$(steal_pct "$h0" "$h1")" >>"$RESULTS" <<'EOF'
import csv, glob, sys
d, c0, c1, tck, mem, srv, rate, count, t0, t1, steal = sys.argv[1:]
ok = failed = retrans = 0
for f in glob.glob(d + "/stat_*.csv"):
    rows = list(csv.reader(open(f), delimiter=";"))
    h, last = rows[0], rows[-1]
    ok += int(last[h.index("SuccessfulCall(C)")]); failed += int(last[h.index("FailedCall(C)")])
    retrans += int(last[h.index("Retransmissions(C)")]) if "Retransmissions(C)" in h else 0
lat = []
for f in glob.glob(d + "/*_rtt.csv"):
    for line in open(f):
        p = line.strip().split(";")
        if len(p) >= 2 and p[0][:1].isdigit():
            lat.append(float(p[1]))
lat.sort()
pct = lambda q: lat[min(len(lat) - 1, round((len(lat) - 1) * q))] if lat else float("nan")
el = float(t1) - float(t0)
cpu = (int(c1) - int(c0)) * 1e6 / int(tck) / ok if ok else float("nan")
fail = 100.0 * (int(count) - ok) / int(count)
print("\t".join([srv, "sipp x%d" % len(glob.glob(d + "/stat_*.csv")), rate, "%.0f" % (ok / el), "%.3f" % fail,
                 "%.2f" % pct(0.5), "%.2f" % pct(0.99), "%.1f" % cpu, "%.1f" % (int(mem) / 1024), str(ok), str(retrans), steal]))
EOF
}

# ---------------------------------------------------------------- data
write_tenants() { # DIR TENANTS USERS: one YAML per tenant
  local dir=$1 nt=$2 nu=$3
  mkdir -p "$dir"
  awk -v nt="$nt" -v nu="$nu" -v dir="$dir" 'BEGIN {
    for (t = 0; t < nt; t++) {
      f = dir "/t" t ".yaml"
      print "domain: t" t ".bench.test" > f
      print "users:" > f
      for (u = 0; u < nu; u++) { e = 1000 + u; printf "  - {ext: \"%d\", name: \"User %d\", secret: \"secret-%d-%d\"}\n", e, e, t, e > f }
      close(f)
    } }'
}
write_config() { # DIR PORT -> DIR/vpbx.toml
  cat >"$1/vpbx.toml" <<EOF
data_dir = "$1/data"
database = "sqlite://$1/data/vpbx.db"
[sip]
listen = ["udp:127.0.0.1:$2"]
shards = $SHARDS
threads = $THREADS
# Kamailio here keeps no OPTIONS keep-alive either (and loadgen's contacts do not answer).
qualify_interval_s = 0
[http]
listen = "127.0.0.1:$HTTP_PORT"
[security]
trusted_networks = ["127.0.0.0/8"]
[trace]
max_messages = 0
EOF
  mkdir -p "$1/data"
}
apply_all() { # DIR NTENANTS -> prints ms per tenant
  local dir=$1 nt=$2 t s e
  s=$(date +%s%N)
  for ((t = 0; t < nt; t++)); do
    "$BIN/vpbx" --config "$dir/vpbx.toml" tenant apply "$dir/yaml/t$t.yaml" >/dev/null
  done
  e=$(date +%s%N)
  echo $(((e - s) / 1000000 / (nt > 0 ? nt : 1)))
}
start_vpbx() { # DIR
  "$BIN/vpbx" --config "$1/vpbx.toml" serve >"$1/serve.log" 2>&1 &
  VPBX_PID=$!; PIDS+=("$VPBX_PID")
}
stop_vpbx() { kill "$VPBX_PID" 2>/dev/null || true; wait "$VPBX_PID" 2>/dev/null || true; }

# SIPp scenario and CSV (same users, same order as loadgen: k -> tenant k%T, ext 1000+(k/T)%U)
cat >"$OUT/reg_auth.xml" <<'EOF'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="register with digest">
  <send retrans="500"><![CDATA[
      REGISTER sip:[field1] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[field0]@[field1]>;tag=[pid]t[call_number]
      To: <sip:[field0]@[field1]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Expires: 3600
      Content-Length: 0

    ]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
      REGISTER sip:[field1] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[field0]@[field1]>;tag=[pid]t[call_number]
      To: <sip:[field0]@[field1]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      [field2]
      Max-Forwards: 70
      Expires: 3600
      Content-Length: 0

    ]]></send>
  <recv response="200" rtd="true"/>
</scenario>
EOF
if [[ "${SKIP_SIPP:-0}" != 1 ]]; then
  for ((i = 0; i < SIPP_INSTANCES; i++)); do
    awk -v T="$TENANTS" -v U="$USERS" -v n=$((SIPP_COUNT / SIPP_INSTANCES)) -v i="$i" 'BEGIN {
      print "SEQUENTIAL"
      for (j = 0; j < n; j++) { k = i * n + j; t = k % T; e = 1000 + int(k / T) % U
        printf "%d;t%d.bench.test;[authentication username=%d password=secret-%d-%d]\n", e, t, e, t, e } }' \
      >"$OUT/sipp_users_$i.csv"
  done
fi

# Kamailio: the PEERS.md §0 registrar trimmed to REGISTER, users in an htable
# filled by a loop at start (no DB), usrloc in memory keyed by user@domain.
write_kamailio() {
  cat >"$OUT/kamailio.cfg" <<EOF
#!KAMAILIO
debug=1
log_stderror=yes
children=$KAM_CHILDREN
listen=udp:127.0.0.1:$KAM_PORT
auto_aliases=no
max_while_loops=$((USERS_TOTAL + 10))
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "htable.so"
modparam("htable", "htable", "users=>size=17;")
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "use_domain", 1)
modparam("usrloc", "hash_size", 14)
modparam("registrar", "max_expires", 3600)
event_route[htable:mod-init] {
    \$var(t) = 0;
    while (\$var(t) < $TENANTS) {
        \$var(u) = 0;
        while (\$var(u) < $USERS) {
            \$var(e) = 1000 + \$var(u);
            \$var(k) = "" + \$var(e) + "@t" + \$var(t) + ".bench.test";
            \$sht(users=>\$var(k)) = "secret-" + \$var(t) + "-" + \$var(e);
            \$var(u) = \$var(u) + 1;
        }
        \$var(t) = \$var(t) + 1;
    }
}
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (is_method("REGISTER")) {
        \$var(pw) = \$sht(users=>\$tU@\$td);
        if (\$sht(users=>\$tU@\$td) == \$null || !pv_www_authenticate("\$td", "\$var(pw)", "0")) {
            www_challenge("\$td", "1"); exit;
        }
        if (!save("location")) { sl_reply_error(); }
        exit;
    }
    sl_send_reply("404", "Not here");
}
EOF
}

# ---------------------------------------------------------------- run
log "output in $OUT"
A="$OUT/vpbx-load"; mkdir -p "$A"
write_config "$A" "$VPBX_PORT"
write_tenants "$A/yaml" "$TENANTS" "$USERS"
log "creating $TENANTS tenants x $USERS users with 'vpbx tenant apply' (one CLI call per tenant)"
APPLY_MS=$(apply_all "$A" "$TENANTS")
log "tenant apply: $APPLY_MS ms per tenant ($USERS users each)"
start_vpbx "$A"
wait_udp "$VPBX_PORT"
SERVERS=(vpbx)
if [[ "${SKIP_KAMAILIO:-0}" != 1 ]]; then
  write_kamailio
  kamailio -c -f "$OUT/kamailio.cfg" >/dev/null 2>&1 || { kamailio -c -f "$OUT/kamailio.cfg"; exit 1; }
  mkdir -p "$OUT/kamrun"
  kamailio -f "$OUT/kamailio.cfg" -DD -E -Y "$OUT/kamrun" -P "$OUT/kamrun/kamailio.pid" -m 1024 -M 32 \
    >"$OUT/kamailio.log" 2>&1 &
  KAM_PID=$!; PIDS+=("$KAM_PID")
  wait_udp "$KAM_PORT"
  SERVERS+=(kamailio)
fi
sleep 1

declare -A MEM0 MEM1 MEM2 TOP FILL
for srv in "${SERVERS[@]}"; do
  read -ra pids <<<"$(server_pids "$srv")"
  MEM0[$srv]=$(mem_kb "${pids[@]}")
  log "$srv: registering all $USERS_TOTAL users once at max rate (expires 3600)"
  FILL[$srv]=$(run_loadgen "$srv" "fill" 0 "$USERS_TOTAL" "$FILL_CONC")
  sleep 1.5 # let write-behind flush before measuring memory
  read -ra pids <<<"$(server_pids "$srv")"
  MEM1[$srv]=$(mem_kb "${pids[@]}")
  if [[ "$srv" == vpbx ]]; then
    log "vpbx: waiting for completed transactions to expire before measuring memory again"
    wait_txns
    MEM2[$srv]=$(mem_kb "${pids[@]}")
  else
    MEM2[$srv]=${MEM1[$srv]}
  fi
done
if [[ "${SKIP_SIPP:-0}" != 1 ]]; then
  for srv in "${SERVERS[@]}"; do
    log "$srv: SIPp $SIPP_COUNT registrations at $SIPP_RATE/s ($SIPP_INSTANCES instance(s))"
    run_sipp "$srv"
  done
fi
for rate in $RATES; do
  sleep 2
  for srv in "${SERVERS[@]}"; do
    log "$srv: loadgen $((rate * DURATION)) registrations at $rate/s"
    run_loadgen "$srv" "fixed" "$rate" $((rate * DURATION)) "$CONC" >/dev/null
  done
done
for srv in "${SERVERS[@]}"; do
  sleep 3 # let the previous load's write-behind and retransmissions settle
  log "$srv: loadgen at max rate (refresh)"
  TOP[$srv]=$(run_loadgen "$srv" "max" 0 $((USERS_TOTAL < 50000 ? USERS_TOTAL : 50000)) "$FILL_CONC")
  half=$((TOP[$srv] / 2))
  sleep 3
  log "$srv: loadgen at half the top rate ($half/s)"
  run_loadgen "$srv" "half-top" "$half" $((half * DURATION)) "$CONC" >/dev/null
done
curl -s "http://127.0.0.1:$HTTP_PORT/metrics" >"$OUT/vpbx-metrics.txt" 2>/dev/null || true
stop_vpbx
# Restart: the contacts come back from the store with no transaction held, so
# RSS after the restore minus RSS before the fill is what the contacts cost.
start_vpbx "$A"; wait_udp "$VPBX_PORT"; sleep 2
RESTORED=$(grep -o 'restored[^ ]*=[^ ]*[0-9]*' "$A/serve.log" | tail -1 | grep -o '[0-9]*$' || echo 0)
RSS_RESTORED=$(mem_kb "$VPBX_PID")
stop_vpbx
[[ -n "${KAM_PID:-}" ]] && { kill "$KAM_PID" 2>/dev/null || true; wait "$KAM_PID" 2>/dev/null || true; }

# Idle tenants: RSS with TENANTS tenants x IDLE_USERS registered users minus RSS with no tenant.
if [[ "${SKIP_MEMORY:-0}" != 1 ]]; then
  E="$OUT/vpbx-empty"; mkdir -p "$E"; write_config "$E" "$VPBX_PORT"
  start_vpbx "$E"; sleep 2; RSS_EMPTY=$(mem_kb "$VPBX_PID"); stop_vpbx
  I="$OUT/vpbx-idle"; mkdir -p "$I"; write_config "$I" "$VPBX_PORT"
  write_tenants "$I/yaml" "$TENANTS" "$IDLE_USERS"
  log "creating $TENANTS tenants x $IDLE_USERS users"
  apply_all "$I" "$TENANTS" >/dev/null
  start_vpbx "$I"; wait_udp "$VPBX_PORT"
  "$BIN/loadgen" --server "127.0.0.1:$VPBX_PORT" --tenants "$TENANTS" --users "$IDLE_USERS" \
    --password-pattern 'secret-{t}-{ext}' --count $((TENANTS * IDLE_USERS)) --concurrency 200 --sockets 2 \
    --port-base 40000 --time-limit-s 60 --label idle >>"$OUT/loadgen.jsonl"
  sleep 1.5
  wait_txns
  RSS_IDLE=$(mem_kb "$VPBX_PID"); stop_vpbx
fi

# ---------------------------------------------------------------- report
python3 - "$RESULTS" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
hdr = ["server", "load", "target/s", "achieved/s", "fail %", "p50 ms", "p99 ms", "CPU us/reg", "mem MB", "ok", "retrans", "steal %"]
w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(hdr)]
print("  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)))
for r in rows:
    print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
by = {(r[0], r[1], r[2]): r for r in rows}
print()
print("vpbx / Kamailio CPU per registration, same load (target: <= 0.67):")
for (srv, load, tgt), r in by.items():
    if srv != "vpbx": continue
    k = by.get(("kamailio", load, tgt))
    if k and load != "loadgen half-top":
        try: print("  %-14s %-6s %.1f / %.1f us = %.2f" % (load, tgt, float(r[7]), float(k[7]), float(r[7]) / float(k[7])))
        except (ValueError, ZeroDivisionError): pass
EOF
echo
echo "mem MB: vpbx = VmRSS; kamailio = sum of Pss over its processes."
echo "tenant apply: ${APPLY_MS} ms per tenant with ${USERS} users (one 'vpbx tenant apply' per tenant)"
for srv in "${SERVERS[@]}"; do
  echo "$srv memory: ${MEM0[$srv]} kB before, ${MEM1[$srv]} kB 1.5 s after $USERS_TOTAL contacts" \
    "($(((MEM1[$srv] - MEM0[$srv]) * 1024 / USERS_TOTAL)) B/contact), ${MEM2[$srv]} kB once transactions expired" \
    "-> $(((MEM2[$srv] - MEM0[$srv]) * 1024 / USERS_TOTAL)) bytes per contact (target for vpbx <= 1024)"
  echo "$srv top rate: ${TOP[$srv]}/s refreshing (max run), ${FILL[$srv]}/s for first registrations (fill run)"
done
echo "vpbx restart: restored ${RESTORED:-0} of the bindings from the store, RSS ${RSS_RESTORED} kB ->" \
  "$(( RESTORED > 0 ? (RSS_RESTORED - MEM0[vpbx]) * 1024 / RESTORED : 0 )) bytes per restored contact"
if [[ "${SKIP_MEMORY:-0}" != 1 ]]; then
  echo "vpbx idle tenants: RSS ${RSS_EMPTY} kB with 0 tenants, ${RSS_IDLE} kB with $TENANTS tenants x $IDLE_USERS" \
    "registered users -> $(((RSS_IDLE - RSS_EMPTY) / TENANTS)) kB per tenant (target <= 1024)"
fi
echo "vpbx metrics at the end of the load runs:"
grep -E '^vpbx_(store_deferred_batches_total|sip_dropped_total|sip_responses_sent_total|registrations_total|udp_helper_wakeups_total)' "$OUT/vpbx-metrics.txt" | sed 's/^/  /' || true
echo "raw: $RESULTS, $OUT/loadgen.jsonl"

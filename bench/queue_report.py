#!/usr/bin/env python3
"""Prints the tables of a bench/queue.sh run from its OUT directory (results.jsonl,
queue-show.jsonl, window-*.start/end, knobs.txt, rss-start.kb).

    python3 bench/queue_report.py OUT
"""
import json, os, sys

out = sys.argv[1]
knobs = dict(l.strip().split("=", 1) for l in open(os.path.join(out, "knobs.txt")) if "=" in l)
agents, waiting = int(knobs["AGENTS"]), int(knobs["WAITING"])
announce, strategy = knobs["ANNOUNCE"], knobs["STRATEGY"]
rss_idle = int(open(os.path.join(out, "rss-start.kb")).read().strip() or 0)
rows = {}
for l in open(os.path.join(out, "results.jsonl")):
    if l.strip():
        r = json.loads(l); rows[r["label"]] = r
samples = [json.loads(l) for l in open(os.path.join(out, "queue-show.jsonl")) if l.strip()]
def window_of(label):
    try:
        return float(open(os.path.join(out, f"window-{label}.start")).read()), float(open(os.path.join(out, f"window-{label}.end")).read())
    except (OSError, ValueError):
        return None
fifo = knobs.get("FIFO", "0")
print(f"Queue: {agents} agents (static members, {strategy}), callers waiting with music and an announcement every {announce} s;"
      f" relay workers {'SCHED_FIFO ' + fifo if fifo != '0' else 'normal scheduling'},"
      f" loadgen {'SCHED_FIFO ' + knobs.get('PHONES_FIFO', '0') if knobs.get('PHONES_FIFO', '0') != '0' else 'normal scheduling'}")
print("%-6s %6s %8s %6s %6s %7s %8s %8s %8s %10s %10s %9s" % ("run", "calls", "answered", "failed", "up", "waiting", "CPU %", "RSS MB", "+RSS MB", "rx pkt/s", "(expected)", "lg CPU %"))
fig = {}
for label in ("talks", "queue"):
    r = rows.get(label)
    if r is None:
        continue
    if "error" in r or not r.get("window"):
        print("%-6s %s" % (label, r.get("error", "no steady window (calls failed or time limit)")))
        continue
    w = r["window"]
    cpu = 100.0 * w["server_cpu_s"] / w["seconds"]
    up = w["calls_up_start"]
    grow = w["server_rss_kb"] - (r.get("server_rss_kb_before") or w["server_rss_kb"])
    fig[label] = (up, cpu, w["server_rss_kb"], w, grow)
    # Every caller receives 50 packets/s (music or the agent), every talking agent 50/s.
    print("%-6s %6d %8d %6d %6d %7d %8.1f %8.1f %10.1f %10.0f %10d %9.1f" % (label, r["attempted"], r["answered"], r["failed"],
          up, max(up - agents, 0), cpu, w["server_rss_kb"] / 1024, grow / 1024, w["rx_per_s"], (up + min(up, agents)) * 50,
          100.0 * w["loadgen_cpu_s"] / w["seconds"]))
print("vpbx RSS at start (users defined, nothing registered, no music loaded yet): %.1f MB" % (rss_idle / 1024))
if "queue" in fig:
    up, cpu, rss, w, grow = fig["queue"]
    nwait = max(up - agents, 1)
    print("per waiting caller, all of vpbx over the %d waiting (the %d talking included): CPU %.3f %% of a core, RSS growth %.0f kB" %
          (nwait, agents, cpu / nwait, grow / nwait))
    if "talks" in fig:
        bup, bcpu, brss, _, bgrow = fig["talks"]
        print("per waiting caller, marginal ((queue run − talks run) / %d): CPU %.3f %% of a core = %.0f us CPU per caller-second" %
              (nwait, (cpu - bcpu) / nwait, (cpu - bcpu) / nwait * 1e4))
        print("(+RSS of the talks run includes loading the music and prompts once; the queue run starts with them loaded)")
print("RTP inter-arrival gaps in the window (1 ms bins, receiver's clock):")
print("%-6s %-22s %9s %6s %6s %8s %6s %8s %7s" % ("run", "receiving", "gaps", "p50", "p99", "p99.9", "max", ">=40ms", "<5ms"))
for label in ("talks", "queue"):
    w = fig.get(label, (0, 0, 0, {}, 0))[3]
    for key, who in (("gaps_uac", "callers (queue→caller)"), ("gaps_uas", "agents (relayed)"), ("send_lateness", "loadgen send slots*")):
        g = w.get(key)
        if g:
            print("%-6s %-22s %9d %6d %6d %8d %6d %8d %7d" % (label, who, g["count"], g["p50_ms"], g["p99_ms"], g["p999_ms"], g["max_ms"], g["over_40ms"], g["under_5ms"]))
print("* how late loadgen's RTP threads served their 1 ms send slots (count = slots): the generator's own\n"
      "  scheduling on the shared cores, which every receive gap above includes")
print("The queue as vpbx sees it (vpbx queue show --json during the queue run's window):")
win = window_of("queue")
shown = 0
for s in samples:
    if s["label"] != "queue" or win is None or not (win[0] <= s["t"] <= win[1]):
        continue
    shown += 1
    a = s["agents"]
    print("  +%5.1f s  waiting %4d  agents %s  answered so far %d  longest wait %d s" % (s["t"] - win[0], s["waiting"],
          " ".join(f"{k} {v}" for k, v in sorted(a.items())), s["answered"], s["longest_wait_s"]))
if not shown:
    print("  (no sample inside the window)")
inw = [s for s in samples if s["label"] == "queue" and win and win[0] <= s["t"] <= win[1] and "run_ns" in s]
if len(inw) >= 2:
    a, b = inw[0], inw[-1]
    dt = (b["t"] - a["t"]) * 1e9
    print("vpbx threads over %.1f s of the window: on a CPU %.1f %% of a core, runnable but waiting for a CPU %.1f %% of a core"
          " (schedstat); load average %.2f .. %.2f" % (dt / 1e9, 100 * (b["run_ns"] - a["run_ns"]) / dt,
          100 * (b["wait_ns"] - a["wait_ns"]) / dt, min(s["load1"] for s in inw), max(s["load1"] for s in inw)))
    if "steal_ticks" in a:
        ncpu = os.cpu_count() or 1
        print("steal (time the hypervisor gave the CPUs to other guests): %.1f %% of the machine over the window"
              % ((b["steal_ticks"] - a["steal_ticks"]) / (os.sysconf("SC_CLK_TCK") * (dt / 1e9) * ncpu) * 100))
print("server errors logged:", open(os.path.join(out, "serve-errors.count")).read().strip() or "0", "| load:", open(os.path.join(out, "uptime.txt")).read().strip())

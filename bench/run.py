#!/usr/bin/env python3
"""Runs Skyline's benchmarks and regenerates the results table of BENCHMARKS.md.

    python3 bench/run.py [--runs 3] [--duration 5] [--idle-sessions 50000] [--skip-criterion]

Builds the release binary, runs the protocol crate's Criterion bench (the crypto
and codec ceiling), starts one `skyline serve` on a temporary data directory
(loopback only, rate limits off, the bench echo endpoints on), runs every
`skyline bench` scenario several times against it with --server-pid, and writes
medians (with min and max) and the goal ratios into BENCHMARKS.md between the
results markers. Raw reports go to bench/results.json.
"""

import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "skyline")
CRITERION = os.path.join(ROOT, "target", "criterion")
START, END = "<!-- results:start -->", "<!-- results:end -->"


def sh(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, cwd=ROOT, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def criterion_median_ns(group, bench):
    path = os.path.join(CRITERION, group, bench.replace(" ", "_").replace("+", "_"), "new", "estimates.json")
    if not os.path.exists(path):
        # Criterion's directory names replace some characters; search for it.
        base = os.path.join(CRITERION, group)
        want = re.sub(r"[^a-z0-9]", "", bench.lower())
        for name in os.listdir(base) if os.path.isdir(base) else []:
            if re.sub(r"[^a-z0-9]", "", name.lower()) == want:
                path = os.path.join(base, name, "new", "estimates.json")
                break
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


# Load tests come from a few addresses at thousands of handshakes per second:
# the main server runs with every per-address limit and the server-wide
# handshake budget off. The flood server keeps its default budget (issue 10).
NO_LIMITS = ["--max-connections-per-address", "0", "--handshake-budget-per-second", "0"]


class Server:
    def __init__(self, data_dir, extra=NO_LIMITS):
        self.port = free_port()
        cmd = [BIN, "--data-dir", data_dir, "serve", "--listen", f"127.0.0.1:{self.port}",
               "--handshakes-per-second", "0", "--failed-keys-per-minute", "0",
               "--max-connections", "200000", "--bench-echo", "--admin-listen", "off",
               "--log", "warn"] + extra
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        self.public = None
        for line in self.proc.stdout:
            m = re.match(r"Identity public key: ([0-9a-f]{64})", line.strip())
            if m:
                self.public = m.group(1)
                break
        if not self.public:
            raise SystemExit("the server did not print its public key")
        self.url = f"ws://127.0.0.1:{self.port}/ws"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def bench(server, data_dir, scenario, extra, duration):
    cmd = [BIN, "--data-dir", data_dir, "--json", "bench", scenario, "--url", server.url,
           "--identity-public", server.public, "--server-pid", str(server.proc.pid)]
    if scenario != "idle":
        cmd += ["--duration", str(duration)]
    cmd += extra
    out = sh(cmd, stdout=subprocess.PIPE, text=True).stdout
    report = json.loads(out)
    if report["errors"]["total"]:
        print(f"  ! {scenario}: {report['errors']['total']} errors: {report['errors']['byKind']}", file=sys.stderr)
    return report


def typescript_client(server, data_dir, runs):
    """The TypeScript SDK's bench (sdks/typescript/bench/calls.mjs) against
    the same server: get-feature-toggles lock-step and 32 in flight on one
    connection, and the offline telemetry queue (enqueue with fsync, then
    drained). None when Node.js is not installed."""
    sdk = os.path.join(ROOT, "sdks", "typescript")
    if not shutil.which("node") or not shutil.which("npm"):
        print("node/npm not found: skipping the TypeScript client", file=sys.stderr)
        return None
    sh(["npm", "ci", "--no-audit", "--no-fund", "--prefix", sdk], stdout=subprocess.DEVNULL)
    sh(["npm", "run", "build", "--prefix", sdk], stdout=subprocess.DEVNULL)
    cli = lambda *a: sh([BIN, "--data-dir", data_dir, *a], stdout=subprocess.PIPE, text=True).stdout
    cli("product", "create", "tsbench", "--min-version", "1.0.0")
    cli("plan", "create", "tsbench.monthly", "--product", "tsbench", "--months", "1")
    key = cli("license", "create", "--plan", "tsbench.monthly").strip().splitlines()[-1].strip()
    cli("toggle", "set", "engine.limits.sendMessage.dailyLimit", "150", "--product", "tsbench")
    out = sh(["node", os.path.join(sdk, "bench", "calls.mjs"), "--url", server.url,
              "--identity-public", server.public, "--product", "tsbench", "--product-version", "1.0.0",
              "--key", key, "--runs", str(runs), "--json"], stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(s, unit="", digits=1):
    if s is None:
        return "n/a"
    f = f"{{:,.{digits}f}}"
    return f"{f.format(s['median'])}{unit} ({f.format(s['min'])}–{f.format(s['max'])})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--idle-sessions", type=int, default=50000)
    ap.add_argument("--bind-devices", type=int, default=16000)
    ap.add_argument("--skip-criterion", action="store_true")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(args.idle_sessions * 2 + 1000, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        print(f"cannot raise the open-file limit to {want}; idle may fall short", file=sys.stderr)

    sh(["cargo", "build", "--release", "-p", "skyline"])
    if not args.skip_criterion:
        sh(["cargo", "bench", "-p", "skyline-protocol", "--bench", "protocol", "--",
            "--warm-up-time", "1", "--measurement-time", "3"])
    crit = {
        "server_handshake_us": criterion_median_ns("handshake", "server respond") / 1000,
        "seal_open_200_us": criterion_median_ns("frame", "seal + open 200 B") / 1000,
        "request_decode_us": criterion_median_ns("envelope", "request decode get-feature-toggles") / 1000,
        "response_encode_us": criterion_median_ns("envelope", "response encode toggles") / 1000,
        "sequencer_us": criterion_median_ns("envelope", "sequencer on_request toggles") / 1000,
    }

    # (name, scenario, extra flags): the names the table uses.
    plan = [
        ("echo-connect", "echo-connect", []),
        ("handshake", "handshake", []),
        ("echo-baseline", "echo-baseline", ["--connections", "16"]),
        ("echo-sealed", "echo-sealed", ["--connections", "16"]),
        ("toggles", "toggles", ["--connections", "16"]),
        ("toggles-pipelined", "toggles", ["--connections", "16", "--pipeline", "8"]),
        ("echo-baseline-pipelined", "echo-baseline", ["--connections", "16", "--pipeline", "8"]),
        ("session", "session", ["--connections", "16"]),
        ("telemetry", "telemetry", ["--connections", "256", "--pipeline", "4"]),
        ("telemetry-lockstep", "telemetry", ["--connections", "256"]),
        ("telemetry-event-ids", "telemetry", ["--connections", "256", "--pipeline", "4", "--event-ids"]),
        ("telemetry-lockstep-event-ids", "telemetry", ["--connections", "256", "--event-ids"]),
        # One client process, one connection: what the TypeScript SDK's
        # figures below are compared with.
        ("rust-client-lockstep", "toggles", ["--connections", "1"]),
        ("rust-client-pipelined", "toggles", ["--connections", "1", "--pipeline", "32"]),
    ]
    # Issue 10, on a server with its default handshake budget: toggles alone,
    # then the same toggles while 64 tasks flood it with handshakes from 200
    # source addresses.
    flood_plan = [
        ("flood-baseline", "toggles", ["--connections", "16"]),
        ("flood", "flood", ["--connections", "16", "--flood-connections", "64", "--flood-addrs", "200"]),
    ]
    data_dir = tempfile.mkdtemp(prefix="skyline-bench-")
    raw = {}
    server = Server(data_dir)
    try:
        for name, scenario, extra in plan:
            raw[name] = [bench(server, data_dir, scenario, extra, args.duration) for _ in range(args.runs)]
        peak = statistics.median(r["throughput"] for r in raw["session"])
        raw["session-half-peak"] = [
            bench(server, data_dir, "session", ["--connections", "16", "--rate", f"{peak / 2:.0f}"], args.duration)
            for _ in range(args.runs)
        ]
        # Binding many new devices on one key: the last thousand must cost
        # what the first did (a counter, not a count of the key's devices).
        raw["bind"] = [bench(server, data_dir, "bind", ["--connections", "16", "--requests", str(args.bind_devices)],
                             600) for _ in range(args.runs)]
        ts = typescript_client(server, data_dir, args.runs)
        raw["idle"] = [bench(server, data_dir, "idle",
                             ["--connections", str(args.idle_sessions), "--source-addrs", "4", "--hold", "2"],
                             args.duration)]
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    flood_dir = tempfile.mkdtemp(prefix="skyline-bench-flood-")
    server = Server(flood_dir, extra=["--max-connections-per-address", "0"])
    try:
        for name, scenario, extra in flood_plan:
            raw[name] = [bench(server, flood_dir, scenario, extra, args.duration) for _ in range(args.runs)]
    finally:
        server.stop()
        shutil.rmtree(flood_dir, ignore_errors=True)

    def m(name, f):
        return summary([f(r) for r in raw[name]])

    thr = lambda r: r["throughput"]
    cpu = lambda r: (r.get("server") or {}).get("cpuUsPerOp")
    p99step = lambda r: (r.get("stepLatencyUs") or {}).get("p99")
    errors = sum(r["errors"]["total"] for runs in raw.values() for r in runs)

    echo_connect_cpu = m("echo-connect", cpu)["median"]
    hs_cpu = m("handshake", cpu)["median"]
    hs_budget = 1.3 * (echo_connect_cpu + crit["server_handshake_us"])
    echo_thr = m("echo-baseline", thr)["median"]
    tog_thr = m("toggles", thr)["median"]
    echo_cpu = m("echo-baseline", cpu)["median"]
    tog_cpu = m("toggles", cpu)["median"]
    frame_cost = crit["seal_open_200_us"] + crit["request_decode_us"] + crit["response_encode_us"] + crit["sequencer_us"]
    tog_budget = 1.3 * (echo_cpu + frame_cost)
    sess = m("session", thr)["median"]
    tel = m("telemetry", thr)["median"]
    idle = raw["idle"][0]
    idle_rss = (idle.get("server") or {}).get("rssPerSessionBytes")
    held = idle.get("heldSessions")
    p99_half = m("session-half-peak", p99step)
    bind_first = m("bind", lambda r: (r.get("bindings") or {}).get("firstPerSec"))
    bind_last = m("bind", lambda r: (r.get("bindings") or {}).get("lastPerSec"))
    bind_ratio = m("bind", lambda r: (r.get("bindings") or {}).get("lastToFirst"))
    p99 = lambda r: (r.get("latencyUs") or {}).get("p99")
    tog_p99 = m("flood-baseline", p99)["median"]
    flood_p99 = m("flood", p99)["median"]
    flood_hs = m("flood", lambda r: (r.get("flood") or {}).get("handshakesPerSec"))
    flood_tries = m("flood", lambda r: (r.get("flood") or {}).get("attemptsPerSec"))

    def verdict(ok):
        return "met" if ok else "**not met**"

    goals = [
        ("server CPU per handshake ≤ 1.3 × (plain connect + handshake crypto)",
         f"{hs_cpu:.1f} µs vs 1.3 × ({echo_connect_cpu:.1f} + {crit['server_handshake_us']:.1f}) = {hs_budget:.1f} µs "
         f"(ratio {hs_cpu / (echo_connect_cpu + crit['server_handshake_us']):.2f})", verdict(hs_cpu <= hs_budget)),
        ("get-feature-toggles RPC/s ≥ 65 % of echo messages/s (16 connections, lock-step)",
         f"{tog_thr:,.0f} / {echo_thr:,.0f} = {100 * tog_thr / echo_thr:.0f} %", verdict(tog_thr >= 0.65 * echo_thr)),
        ("server CPU per RPC ≤ 1.3 × (per echo message + frame crypto and codec)",
         f"{tog_cpu:.1f} µs vs 1.3 × ({echo_cpu:.1f} + {frame_cost:.1f}) = {tog_budget:.1f} µs "
         f"(ratio {tog_cpu / (echo_cpu + frame_cost):.2f})", verdict(tog_cpu <= tog_budget)),
        ("start-session ≥ 5,000/s on SQLite (connect + handshake + start-session, 16 connections)", f"{sess:,.0f}/s", verdict(sess >= 5000)),
        ("durable telemetry ≥ 50,000 events/s on SQLite (256 connections, 4 in flight each)", f"{tel:,.0f}/s", verdict(tel >= 50000)),
        (f"{args.idle_sessions:,} idle sessions at ≤ 10 KiB of server memory each",
         f"{held:,} held, {idle_rss or 0:,.0f} B each" if held else "n/a",
         verdict(bool(held and held >= args.idle_sessions and idle_rss is not None and idle_rss <= 10240))),
        (f"binding new devices on one key: the last 1,000 of {args.bind_devices:,} at ≥ 80 % of the first 1,000's rate",
         f"first {bind_first['median']:,.0f}/s, last {bind_last['median']:,.0f}/s, last/first {fmt(bind_ratio, '', 2)}"
         if bind_ratio else "n/a",
         verdict(bool(bind_ratio and bind_ratio["median"] >= 0.8))),
        ("toggles p99 under a handshake flood from 200 addresses ≤ 2 × toggles p99 without it (16 sessions)",
         f"{flood_p99:,.0f} µs vs {tog_p99:,.0f} µs (ratio {flood_p99 / tog_p99:.2f}); flood "
         f"{flood_tries['median']:,.0f} attempts/s, {flood_hs['median']:,.0f} handshakes/s served",
         verdict(flood_p99 <= 2 * tog_p99)),
        ("p99 start-session latency ≤ 5 ms at half the peak rate",
         f"{p99_half['median'] / 1000:.2f} ms at {sess / 2:,.0f}/s" if p99_half else "n/a",
         verdict(bool(p99_half and p99_half["median"] <= 5000))),
    ]

    cpu_model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [START, "",
             f"Generated by `python3 bench/run.py --runs {args.runs} --duration {args.duration:g}` on {when}; "
             f"{os.cpu_count()} cores ({cpu_model}); load tool and server on the same machine. "
             f"Medians of {args.runs} runs, (min–max). Errors in all runs: {errors}.", "",
             "### Goals", "", "| goal | measured | verdict |", "| --- | --- | --- |"]
    lines += [f"| {g} | {v} | {ok} |" for g, v, ok in goals]
    lines += ["", "### Scenarios", "",
              "| run | ops/s | p50 | p99 | p99.9 | server CPU/op |", "| --- | --- | --- | --- | --- | --- |"]
    for name in [p[0] for p in plan] + ["session-half-peak", "bind"] + [p[0] for p in flood_plan]:
        lat = lambda k: (lambda r: (r.get("latencyUs") or {}).get(k))
        lines.append(f"| {name} | {fmt(m(name, thr), '', 0)} | {fmt(m(name, lat('p50')), ' µs')} | "
                     f"{fmt(m(name, lat('p99')), ' µs')} | {fmt(m(name, lat('p999')), ' µs')} | {fmt(m(name, cpu), ' µs')} |")
    if ts:
        rust_lock = m("rust-client-lockstep", thr)
        rust_pipe = m("rust-client-pipelined", thr)
        ts_lock, ts_pipe = summary(ts["lockStep"]), summary(ts["pipelined"])
        lines += ["", f"### Client SDKs: one process, one connection (Node {ts['node']})", "",
                  "| client | get-feature-toggles lock-step | 32 in flight |", "| --- | --- | --- |",
                  f"| Rust (`skyline bench toggles --connections 1`) | {fmt(rust_lock, '/s', 0)} | {fmt(rust_pipe, '/s', 0)} |",
                  f"| TypeScript (`sdks/typescript/bench/calls.mjs`) | {fmt(ts_lock, '/s', 0)} | {fmt(ts_pipe, '/s', 0)} |",
                  f"| TypeScript / Rust | {ts_lock['median'] / rust_lock['median']:.2f} | "
                  f"{ts_pipe['median'] / rust_pipe['median']:.2f} |",
                  "", "| TypeScript offline telemetry queue | events/s |", "| --- | --- |",
                  f"| enqueue (each event fsynced to the queue file before `sendTelemetryEvent` resolves) | "
                  f"{fmt(summary(ts['enqueued']), '/s', 0)} |",
                  f"| drained to the server (32 in flight, removed after `OK`) | {fmt(summary(ts['drained']), '/s', 0)} |"]
    lines += ["", "### Crypto and codec ceiling (Criterion medians)", "", "| operation | µs |", "| --- | --- |"]
    lines += [f"| {k} | {v:.3f} |" for k, v in crit.items()]
    lines += ["", END]

    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else f"# Benchmarks\n\n{START}\n{END}\n"
    a, b = text.index(START), text.index(END) + len(END)
    with open(path, "w") as f:
        f.write(text[:a] + "\n".join(lines) + text[b:])
    with open(os.path.join(ROOT, "bench", "results.json"), "w") as f:
        json.dump({"criterion": crit, "runs": raw, "typescript": ts}, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

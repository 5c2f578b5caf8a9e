#!/usr/bin/env python3
"""Load time, repeated: each server started `--rounds` times on a set, the servers
interleaved round by round, from process start to its first answer with records.

bench.py measures a server's load once per run, and a virtual machine's speed drifts
by tens of percent within minutes; interleaving the servers and repeating them gives a
ratio that holds. Servers are started as bench.py starts them (ward on every core of
`--load-cpus`, the others on `--server-cpu`), and the ready probe is bench.py's too.
Also reported: the CPU time the server had used when it first answered (all its
threads). Only 127.0.0.1 is queried.

    python3 bench/load_time.py --ward target/release/ward --sets addr-1m \\
        --fork /tmp/ward-bench/rbldnsd-rspamd/build/rbldnsd \\
        --loadgen /tmp/ward-bench/loadgen-target/release/loadgen --results bench/results
"""

import argparse
import datetime
import json
import os
import signal
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench.py beside this file)

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system time of the process, all its threads, so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def one_load(cfg, kind, meta, setdir, port):
    srv = bench.Server(kind, kind, bench.server_cmd(cfg, kind, meta, setdir, port),
                       os.path.join(cfg.work, f"load-{kind}.log"))
    srv.start()
    try:
        ready = bench.wait_ready(cfg, srv, meta["probe"], cfg.ready_timeout, port)
        cpu = cpu_seconds(srv.pid)
    finally:
        srv.stop()
    return ready, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default="/tmp/ward-bench")
    ap.add_argument("--data", default=None, help="data dir (default WORK/data)")
    ap.add_argument("--results", required=True)
    ap.add_argument("--ward", required=True)
    ap.add_argument("--ward-commit", default=None)
    ap.add_argument("--fork", default=None)
    ap.add_argument("--rbldnsd", default="/usr/sbin/rbldnsd")
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--sets", default="addr-1m")
    ap.add_argument("--servers", default="rbldnsd,fork,ward,ward-dnset")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--port", type=int, default=5395)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--load-cpus", default=None, help="CPUs ward loads on (default: all)")
    ap.add_argument("--ready-timeout", type=float, default=300)
    cfg = ap.parse_args()
    cfg.data = cfg.data or os.path.join(cfg.work, "data")
    cfg.load_cpus = cfg.load_cpus or f"0-{os.cpu_count() - 1}"
    cfg.servers = [s for s in cfg.servers.split(",") if s]
    os.makedirs(cfg.results, exist_ok=True)
    signal.signal(signal.SIGTERM, bench.on_signal)
    started = datetime.datetime.now()
    lines = [f"# ward load time, {started:%Y-%m-%dT%H:%M:%S}", "",
             f"- command: `python3 bench/load_time.py {' '.join(sys.argv[1:])}`",
             f"- ward: `{cfg.ward}` (commit {cfg.ward_commit or '?'}), loading on CPUs "
             f"{cfg.load_cpus}; the other servers on CPU {cfg.server_cpu}",
             f"- {cfg.rounds} rounds, the servers interleaved in each; seconds from process "
             "start to the first answer with records, and the CPU seconds used by then", ""]
    results = {}
    try:
        for setname in cfg.sets.split(","):
            setdir = os.path.join(cfg.data, setname)
            with open(os.path.join(setdir, "meta.json")) as f:
                meta = json.load(f)
            kinds = bench.servers_for(meta, cfg)
            runs = {k: [] for k in kinds}
            for n in range(cfg.rounds):
                for kind in kinds:
                    ready, cpu = one_load(cfg, kind, meta, setdir, cfg.port)
                    runs[kind].append((ready, cpu))
                    bench.log(f"{setname} round {n + 1}: {kind} ready in {ready:.2f} s, "
                              f"{cpu:.2f} CPU s")
            results[setname] = runs
            base = statistics.median(r for r, _ in runs.get("rbldnsd", [(None, None)])) \
                if "rbldnsd" in runs else None
            lines += [f"## {setname}: {meta.get('entries', '?'):,} entries", "",
                      "| server | ready s, median | min | max | CPU s, median | "
                      "median / rbldnsd |", "|---|---:|---:|---:|---:|---:|"]
            for kind, rs in runs.items():
                ready = [r for r, _ in rs]
                cpu = [c for _, c in rs]
                med = statistics.median(ready)
                ratio = f"{med / base:.2f}×" if base else "–"
                lines.append(f"| {kind} | {med:.2f} | {min(ready):.2f} | {max(ready):.2f} | "
                             f"{statistics.median(cpu):.2f} | {ratio} |")
            lines.append("")
    finally:
        bench.cleanup()
    stamp = f"{started:%Y-%m-%dT%H%M}-load"
    with open(os.path.join(cfg.results, stamp + ".md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(cfg.results, stamp + ".json"), "w") as f:
        json.dump(results, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

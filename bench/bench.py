#!/usr/bin/env python3
"""Side-by-side benchmark of ward, Debian's rbldnsd and the rspamd fork of rbldnsd.

Called by bench/run.sh, which builds the binaries and generates the data first; see
bench/README.md for what is measured and what the numbers mean. Only 127.0.0.1 is
ever queried, every load loop is bounded in time, and every process started here is
stopped before this script exits (also on Ctrl-C and SIGTERM).
"""

import argparse
import datetime
import json
import os
import platform
import random
import resource
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

CHILDREN = []  # every process started, stopped in cleanup()


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, **kw)
    CHILDREN.append(p)
    return p


def stop(p, timeout=5.0):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def cleanup():
    for p in CHILDREN:
        try:
            stop(p)
        except Exception:
            pass


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


# ------------------------------------------------------------------ /proc

def proc_status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    rest = s[s.rfind(")") + 2:].split()
    return int(rest[11]) + int(rest[12])


CLK_TCK = os.sysconf("SC_CLK_TCK")


def port_free(port):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


# ------------------------------------------------------------------ DNS client (checks)

QTYPES = {"A": 1, "NS": 2, "SOA": 6, "TXT": 16, "AAAA": 28, "ANY": 255}
RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"]


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def skip_name(p, i):
    while True:
        n = p[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += n + 1


def read_name(p, i):
    labels, jumps = [], 0
    while True:
        n = p[i]
        if n == 0:
            break
        if n & 0xC0 == 0xC0:
            i = ((n & 0x3F) << 8) | p[i + 1]
            jumps += 1
            if jumps > 20:
                break
            continue
        labels.append(p[i + 1:i + 1 + n].decode("ascii", "replace").lower())
        i += n + 1
    return ".".join(labels)


def parse_reply(p):
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", p[:12])
    i = 12
    for _ in range(qd):
        i = skip_name(p, i) + 4
    rrs = []
    for sec in range(an + ns):
        name = read_name(p, i)
        i = skip_name(p, i)
        t, c, ttl, rdlen = struct.unpack(">HHIH", p[i:i + 10])
        i += 10
        rd = p[i:i + rdlen]
        i += rdlen
        if t == 1:
            val = socket.inet_ntoa(rd)
        elif t == 16:
            parts, j = [], 0
            while j < len(rd):
                parts.append(rd[j + 1:j + 1 + rd[j]].decode("utf-8", "replace"))
                j += 1 + rd[j]
            val = "".join(parts)
        else:
            val = rd.hex()
        rrs.append(("an" if sec < an else "ns", name, t, ttl, val))
    return {
        "rcode": RCODES[flags & 15] if (flags & 15) < len(RCODES) else str(flags & 15),
        "aa": bool(flags & 0x0400),
        "answers": sorted((n, t, ttl, v) for s, n, t, ttl, v in rrs if s == "an"),
        "auth_types": sorted(t for s, n, t, ttl, v in rrs if s == "ns"),
    }


def query_sample(port, sample, timeout=1.0):
    """Asks each (name, type) once; returns {"name TYPE": parsed reply or None}."""
    out = {}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    try:
        for k, (name, qt) in enumerate(sample):
            qid = (k * 7919 + 1) & 0xFFFF
            s.send(struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + encode_name(name) + struct.pack(">HH", QTYPES[qt], 1))
            reply = None
            deadline = time.time() + timeout
            while time.time() < deadline:
                try:
                    p = s.recv(4096)
                except socket.timeout:
                    break
                if len(p) >= 12 and struct.unpack(">H", p[:2])[0] == qid:
                    reply = parse_reply(p)
                    break
            out[f"{name} {qt}"] = reply
    finally:
        s.close()
    return out


def compare(ref, got):
    """Differences in rcode or answer records (name, type, TTL, data)."""
    diffs = []
    for k, r in ref.items():
        g = got.get(k)
        if r is None or g is None:
            if r is not g:
                diffs.append((k, r and r["rcode"], g and g["rcode"]))
            continue
        if r["rcode"] != g["rcode"] or r["answers"] != g["answers"]:
            diffs.append((k, f"{r['rcode']} {r['answers']}", f"{g['rcode']} {g['answers']}"))
    return diffs


# ------------------------------------------------------------------ servers

class Server:
    def __init__(self, label, kind, cmd, logpath, env=None):
        self.label, self.kind, self.cmd, self.logpath, self.env = label, kind, cmd, logpath, env
        self.proc = None

    def start(self):
        self.logf = open(self.logpath, "w")
        self.t0 = time.time()
        # own session: a Ctrl-C at the terminal reaches this script, which stops it
        self.proc = spawn(self.cmd, stdout=self.logf, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, start_new_session=True, env=self.env)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc:
            stop(self.proc)
            self.logf.close()


def server_cmd(cfg, kind, meta, setdir, port, threads=1):
    if kind in ("rbldnsd", "fork", "fork-dnhash"):
        binary = cfg.rbldnsd if kind == "rbldnsd" else cfg.fork
        specs = meta["rbldnsd"] if kind == "rbldnsd" else meta["fork_dnhash" if kind == "fork-dnhash" else "fork"]
        return (["taskset", "-c", cfg.server_cpu, binary, "-n", "-a", "-b", f"127.0.0.1/{port}",
                 "-w", os.path.join(setdir, "rbldnsd"), "-c", "0"]
                + [f"{z}:{t}:{f}" for z, t, f in specs])
    if kind in ("ward", "ward-dnset", "ward-metrics", "ward-rrl"):
        zones = os.path.join(setdir, meta["ward_dnset" if kind == "ward-dnset" else "ward"])
        # The cost of the optional parts: metrics on (answers counted per zone, type,
        # rcode), and rate limiting on with no client over its limit.
        extra = {"ward-metrics": ["--metrics", "127.0.0.1:0"],
                 "ward-rrl": ["--rrl-rate", "100000000"]}.get(kind, [])
        # ward loads on every core it may use (it hashes addresses in parallel), and is
        # pinned to the server's core once ready (see `pin_after_load`).
        return ["taskset", "-c", cfg.load_cpus, cfg.ward, "serve", "--zones", zones,
                "--listen", f"127.0.0.1:{port}", "--threads", str(threads), "--log", "info"] + extra
    if kind == "knot":
        return ["taskset", "-c", cfg.server_cpu, "knotd", "-c", knot_config(cfg, meta, setdir, port)]
    raise ValueError(kind)


def pin_after_load(cfg, srv):
    """Moves every thread of a server started on `--load-cpus` to the server's core, so
    that the query runs measure it on one core like the others."""
    if srv.cmd[:3] == ["taskset", "-c", cfg.load_cpus] and cfg.load_cpus != cfg.server_cpu:
        subprocess.run(["taskset", "-a", "-p", "-c", cfg.server_cpu, str(srv.pid)],
                       check=True, stdout=subprocess.DEVNULL)


def knot_config(cfg, meta, setdir, port):
    """A Knot DNS configuration serving the set's zone file on `port` with one UDP
    worker: the general-purpose authoritative server, next to the list servers."""
    run = os.path.join(cfg.work, "knot", str(port))
    os.makedirs(run, exist_ok=True)
    path = os.path.join(run, "knot.conf")
    with open(path, "w") as f:
        f.write(f"""server:
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    rundir: {run}
database:
    storage: {run}
log:
  - target: stderr
    any: notice
template:
  - id: default
    storage: {os.path.join(setdir, meta["knot"])}
    semantic-checks: off
    journal-content: none
    zonefile-sync: -1
    zonefile-load: whole
zone:
  - domain: {meta["zone"]}
    file: {meta["zone"]}.zone
""")
    return path


def servers_for(meta, cfg):
    kinds = []
    for k in cfg.servers:
        if k == "fork-dnhash" and "fork_dnhash" not in meta:
            continue
        if k == "ward-dnset" and "ward_dnset" not in meta:
            continue
        if k in ("fork", "fork-dnhash") and not cfg.fork:
            continue
        if k == "knot" and ("knot" not in meta or not shutil.which("knotd")):
            continue
        kinds.append(k)
    return kinds


def wait_ready(cfg, srv, probe, timeout, port):
    r = subprocess.run([cfg.loadgen, "probe", "--server", f"127.0.0.1:{port}", "--name", probe,
                        "--timeout-s", str(timeout), "--pid", str(srv.pid)],
                       capture_output=True, text=True, timeout=timeout + 30)
    d = json.loads(r.stdout.strip() or "{}")
    if not d.get("ready"):
        raise RuntimeError(f"{srv.label} did not answer {probe}: {d} (log: {srv.logpath})")
    return d["epoch"] - srv.t0


# ------------------------------------------------------------------ other work on the machine

def stat_ticks():
    """(user+nice, all busy) ticks of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1], v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


def rusage_s(who):
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def wait_quiet(cfg):
    """Waits (bounded) until the machine is idle apart from our idle servers: another
    build on this shared machine would otherwise be measured as a slow server."""
    t_start = time.time()
    t_end = t_start + min(cfg.quiet_timeout, max(0.0, cfg.quiet_budget - cfg.waited))
    told = False
    while True:
        _, b0 = stat_ticks()
        time.sleep(0.5)
        _, b1 = stat_ticks()
        busy = (b1 - b0) / CLK_TCK / 0.5  # cores busy
        if busy < cfg.quiet_cores:
            cfg.waited += time.time() - t_start
            return True
        if time.time() > t_end:
            cfg.waited += time.time() - t_start
            log(f"    machine still busy ({busy:.2f} cores); measuring anyway "
                f"(waited {cfg.waited:.0f} s of the --quiet-budget in this run)")
            return False
        if not told:
            log(f"    machine busy ({busy:.2f} cores used by other work); waiting for it to settle")
            told = True


def guarded(cfg, fn, pid, seconds, what, limit=None):
    """Runs fn() and measures the CPU time the machine spent meanwhile on anything
    but the server and our own processes ("foreign": other work, and time the
    hypervisor stole); a run disturbed by more than
    --foreign-limit of a core is repeated (at most --retries times) after waiting
    for quiet."""
    r = None
    for attempt in range(cfg.retries + 1):
        quiet = wait_quiet(cfg)
        # a task's utime+stime includes the softirq work done in its context, so
        # the machine's busy time minus ours is the others' (measured: ~0 when idle)
        b0, t0 = stat_ticks()[1], proc_ticks(pid)
        ch0, me0 = rusage_s(resource.RUSAGE_CHILDREN), rusage_s(resource.RUSAGE_SELF)
        r = fn()
        b1, t1 = stat_ticks()[1], proc_ticks(pid)
        ch1, me1 = rusage_s(resource.RUSAGE_CHILDREN), rusage_s(resource.RUSAGE_SELF)
        foreign = (b1 - b0 - (t1 - t0)) / CLK_TCK - (ch1 - ch0) - (me1 - me0)
        r["foreign_cpu_s"] = round(max(0.0, foreign), 3)
        r["attempt"] = attempt + 1
        r["quiet_before"] = quiet
        if foreign <= (limit or cfg.foreign_limit) * seconds:
            return r
        log(f"    {what}: other work used {foreign:.2f} CPU-s during the run"
            + ("; repeating it" if attempt < cfg.retries else "; kept, marked noisy"))
    r["noisy"] = True
    return r


def loadgen(cfg, port, pid, qfile, seconds, rate=None, extra=()):
    # paced runs get a window of a second's worth of queries, so a stalled server
    # does not also stall the sending (no coordinated omission)
    window = max(cfg.window, min(rate, 60000 * cfg.sockets)) if rate else cfg.window
    cmd = ["taskset", "-c", cfg.client_cpu, cfg.loadgen, "run", "--server", f"127.0.0.1:{port}",
           "--queries", qfile, "--seconds", str(seconds), "--window", str(window),
           "--sockets", str(cfg.sockets), "--batch", str(cfg.batch), "--pid", str(pid)]
    if rate:
        cmd += ["--rate", str(rate)]
    cmd += list(extra)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if r.returncode != 0:
        raise RuntimeError(f"loadgen failed: {r.stderr}")
    return json.loads(r.stdout)


DNSPERF_RE = {
    "sent": r"Queries sent:\s+(\d+)",
    "completed": r"Queries completed:\s+(\d+)",
    "lost": r"Queries lost:\s+(\d+)",
    "run_s": r"Run time \(s\):\s+([\d.]+)",
    "qps": r"Queries per second:\s+([\d.]+)",
    "avg_lat_s": r"Average Latency \(s\):\s+([\d.]+)",
}


def dnsperf(cfg, port, pid, qfile):
    t0 = proc_ticks(pid)
    cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile] + cfg.dnsperf_args.split()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=cfg.dnsperf_limit + 60)
    ticks = proc_ticks(pid) - t0
    out = {}
    for k, rx in DNSPERF_RE.items():
        m = re.search(rx, r.stdout)
        out[k] = float(m.group(1)) if m else None
    cpu_s = ticks / CLK_TCK
    out["server_cpu_ticks"] = ticks
    out["server_cpu_s"] = cpu_s
    out["q_per_cpu_s"] = (out["completed"] or 0) / cpu_s if cpu_s else None
    m = re.search(r"Response codes:\s+(.*)", r.stdout)
    out["rcodes"] = m.group(1).strip() if m else None
    return out


def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def cpu_ns_per_query(run, user):
    """The server's user-space or kernel CPU time per answered query, in nanoseconds:
    where its time goes, and so how much a faster user space can gain at most."""
    ticks, user_ticks = run.get("server_cpu_ticks"), run.get("server_user_ticks")
    if ticks is None or user_ticks is None or not run.get("received"):
        return None
    part = user_ticks if user else ticks - user_ticks
    return part / run["clk_tck"] / run["received"] * 1e9


def summarize(res):
    runs = res.get("closed", []) + res.get("rate", []) + res.get("dnsperf", [])
    s = {"noisy_runs": sum(1 for r in runs if r.get("noisy")),
         "repeated_runs": sum(r.get("attempt", 1) - 1 for r in runs),
         "foreign_cpu_s_max": max([r.get("foreign_cpu_s", 0) for r in runs] or [0]),"load_s": res.get("load_s"), "rss_mb": res["rss_kb"] / 1024 if res.get("rss_kb") else None,
         "hwm_mb": res["hwm_kb"] / 1024 if res.get("hwm_kb") else None}
    c = res.get("closed", [])
    if c:
        s.update({
            "qps": med([r["qps"] for r in c]),
            "cpu_s": med([r.get("server_cpu_s") for r in c]),
            "q_per_cpu_s": med([r.get("q_per_cpu_s") for r in c]),
            "user_ns_per_q": med([cpu_ns_per_query(r, user=True) for r in c]),
            "kernel_ns_per_q": med([cpu_ns_per_query(r, user=False) for r in c]),
            "p50_us": med([r["lat_us"]["p50"] for r in c]),
            "p99_us": med([r["lat_us"]["p99"] for r in c]),
            "lost": med([r["lost"] for r in c]),
            "answer_pct": med([100.0 * r["answers"] / r["received"] if r["received"] else None for r in c]),
            "loadgen_cpu_s": med([r.get("loadgen_cpu_s") for r in c]),
            "seconds": med([r["seconds"] for r in c]),
        })
    rl = res.get("rate", [])
    if rl:
        s.update({
            "rate_qps": med([r["qps"] for r in rl]),
            "rate_p50_us": med([r["lat_us"]["p50"] for r in rl]),
            "rate_p99_us": med([r["lat_us"]["p99"] for r in rl]),
            "rate_p999_us": med([r["lat_us"]["p999"] for r in rl]),
            "rate_lost": med([r["lost"] for r in rl]),
            "rate_q_per_cpu_s": med([r.get("q_per_cpu_s") for r in rl]),
        })
    d = res.get("dnsperf", [])
    if d:
        s.update({
            "dp_qps": med([r["qps"] for r in d]),
            "dp_cpu_s": med([r["server_cpu_s"] for r in d]),
            "dp_q_per_cpu_s": med([r["q_per_cpu_s"] for r in d]),
            "dp_lost": med([r["lost"] for r in d]),
            "dp_avg_lat_us": med([r["avg_lat_s"] * 1e6 if r["avg_lat_s"] is not None else None for r in d]),
        })
    return s


def bench_set(cfg, setname, meta, setdir, results):
    """Starts every server of the set (each on its own port, all pinned to the same
    core; only the one under load uses it), then interleaves the repeats: run i goes
    through the servers in an order rotated by i, so drift on a shared machine spreads
    over all of them instead of favouring whichever ran first."""
    qfile = os.path.join(setdir, "queries.txt")
    kinds = servers_for(meta, cfg)
    srvs, out = {}, {}
    try:
        for i, kind in enumerate(kinds):
            port = cfg.port + i
            if not port_free(port):
                raise RuntimeError(f"port {port} is busy")
            logpath = os.path.join(cfg.work, "logs", f"{setname}-{kind}.log")
            srv = Server(kind, kind, server_cmd(cfg, kind, meta, setdir, port), logpath).start()
            srv.port = port
            srvs[kind] = srv
            res = out[kind] = {"cmd": " ".join(srv.cmd), "closed": [], "rate": [], "dnsperf": []}
            # started one at a time: the load time is that of a server alone
            res["load_s"] = wait_ready(cfg, srv, meta["probe"], cfg.ready_timeout, port)
            pin_after_load(cfg, srv)
            time.sleep(0.5)
            res["rss_kb"] = proc_status_kb(srv.pid, "VmRSS")
            res["hwm_kb"] = proc_status_kb(srv.pid, "VmHWM")
            log(f"  {setname} {kind}: ready in {res['load_s']:.2f} s, RSS {res['rss_kb'] / 1024:.1f} MB, "
                f"peak {res['hwm_kb'] / 1024:.1f} MB")
            res["check"] = query_sample(port, cfg.samples[setname])

        def each(i):
            k = i % len(kinds)
            return kinds[k:] + kinds[:k]

        for kind in kinds:  # warm-up, not recorded
            loadgen(cfg, srvs[kind].port, srvs[kind].pid, qfile, 1.0)
        for i in range(cfg.repeats):
            for kind in each(i):
                srv = srvs[kind]
                r = guarded(cfg, lambda: loadgen(cfg, srv.port, srv.pid, qfile, cfg.seconds), srv.pid,
                            cfg.seconds, f"{kind} closed-loop")
                out[kind]["closed"].append(r)
                log(f"    {kind} closed-loop {i + 1}: {r['qps']:.0f} qps, server {r.get('server_cpu_s')} CPU-s, "
                    f"{r.get('q_per_cpu_s')} q/CPU-s, p50 {r['lat_us']['p50']} µs, p99 {r['lat_us']['p99']} µs, "
                    f"lost {r['lost']}")
        for i in range(cfg.repeats if cfg.rate else 0):
            for kind in each(i):
                srv = srvs[kind]
                r = guarded(cfg, lambda: loadgen(cfg, srv.port, srv.pid, qfile, cfg.rate_seconds, rate=cfg.rate),
                            srv.pid, cfg.rate_seconds, f"{kind} at {cfg.rate} qps")
                out[kind]["rate"].append(r)
                log(f"    {kind} at {cfg.rate} qps {i + 1}: p50 {r['lat_us']['p50']} µs, p99 {r['lat_us']['p99']} µs, "
                    f"p99.9 {r['lat_us']['p999']} µs, lost {r['lost']}")
        for i in range(cfg.repeats if cfg.dnsperf_limit else 0):
            for kind in each(i):
                srv = srvs[kind]
                # unpinned dnsperf leaves ~0.05 core unaccounted for even on an idle machine
                r = guarded(cfg, lambda: dnsperf(cfg, srv.port, srv.pid, qfile), srv.pid, cfg.dnsperf_limit,
                            f"{kind} dnsperf", limit=2 * cfg.foreign_limit)
                out[kind]["dnsperf"].append(r)
                log(f"    {kind} dnsperf {i + 1}: {r['qps']:.0f} qps, server {r['server_cpu_s']:.2f} CPU-s, "
                    f"{r['q_per_cpu_s']:.0f} q/CPU-s, lost {r['lost']:.0f}")
        if "ward" in srvs and setname in cfg.profile:
            out["ward"]["profile"] = profile(cfg, srvs["ward"], qfile, setname)
    finally:
        for srv in srvs.values():
            srv.stop()
    for kind in kinds:
        out[kind]["summary"] = summarize(out[kind])
        results["sets"][setname]["servers"][kind] = out[kind]


def profile(cfg, srv, qfile, setname):
    """perf record -e cpu-clock -g of the server under closed-loop load; top symbols."""
    if not shutil.which("perf"):
        return None
    data = os.path.join(cfg.work, f"perf-{setname}-{srv.label}.data")
    p = spawn(["perf", "record", "-e", "cpu-clock", "-g", "-p", str(srv.pid), "-o", data, "--", "sleep",
               str(cfg.seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    loadgen(cfg, srv.port, srv.pid, qfile, cfg.seconds)
    p.wait(60)
    rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "sym", "--stdio",
                          "--percent-limit", "0.5", "-g", "none"], capture_output=True, text=True, timeout=300)
    top = [l.strip() for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")][:25]
    dso = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso", "--stdio", "-g", "none"],
                         capture_output=True, text=True, timeout=300)
    dsos = [l.strip() for l in dso.stdout.splitlines() if l.strip() and not l.startswith("#")][:6]
    return {"top": top, "dso": dsos, "data": data}


# ------------------------------------------------------------------ reload

def reload_bench(cfg, kind, setname, meta, setdir, results):
    """Time to reload the zone while queries are served, and what it costs them."""
    scratch = os.path.join(cfg.work, "reload", f"{setname}-{kind}")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    os.chmod(os.path.join(cfg.work, "reload"), 0o755)
    os.chmod(scratch, 0o755)
    zone, dtype, fname = meta["rbldnsd"][0]
    orig = os.path.join(setdir, "rbldnsd", fname)
    if kind == "ward":
        ddir = os.path.join(scratch, zone)
        os.makedirs(ddir)
        os.chmod(ddir, 0o755)
        cmd = ["taskset", "-c", cfg.server_cpu, cfg.ward, "serve", "--zones", scratch, "--listen",
               f"127.0.0.1:{cfg.port}", "--threads", "1", "--log", "info"]
        done_re = re.compile(r"\breloaded\b.*\bms=(\d+)")
    else:
        ddir = scratch
        cmd = ["taskset", "-c", cfg.server_cpu, cfg.rbldnsd, "-n", "-a", "-b", f"127.0.0.1/{cfg.port}",
               "-w", scratch, "-c", "0", f"{zone}:{dtype}:{fname}"]
        done_re = re.compile(r"zones reloaded, time ([\d.]+)e")
    target = os.path.join(ddir, fname)
    os.link(orig, target)
    qfile = os.path.join(setdir, "queries.txt")
    logpath = os.path.join(cfg.work, "logs", f"reload-{setname}-{kind}.log")
    srv = Server(kind, kind, cmd, logpath).start()
    res = {"cmd": " ".join(cmd), "rate": cfg.reload_rate, "reloads": []}
    window = max(cfg.window, min(cfg.reload_rate, 60000 * cfg.sockets))
    try:
        res["load_s"] = wait_ready(cfg, srv, meta["probe"], cfg.ready_timeout, cfg.port)
        time.sleep(0.5)
        res["rss_kb"] = proc_status_kb(srv.pid, "VmRSS")
        run_s = max(4.0, 3.0 + 3.0 * res["load_s"])
        res["idle"] = guarded(cfg, lambda: loadgen(cfg, cfg.port, srv.pid, qfile, run_s, rate=cfg.reload_rate),
                              srv.pid, run_s, f"{kind} idle at {cfg.reload_rate} qps")
        log(f"  reload {setname} {kind}: idle at {cfg.reload_rate} qps p50 {res['idle']['lat_us']['p50']} µs "
            f"p99 {res['idle']['lat_us']['p99']} µs max {res['idle']['lat_us']['max']} µs")
        for k in range(cfg.reloads):
            tmp = os.path.join(ddir, ".next.tmp")
            shutil.copyfile(orig, tmp)
            with open(tmp, "a") as f:  # a different size every time, so rbldnsd sees it too
                f.write("".join(f"198.18.{k}.{j}\n" for j in range(k + 1)) if dtype.startswith("ip4") else "")
            os.chmod(tmp, 0o644)
            wait_quiet(cfg)
            lg = spawn(["taskset", "-c", cfg.client_cpu, cfg.loadgen, "run", "--server", f"127.0.0.1:{cfg.port}",
                        "--queries", qfile, "--seconds", str(run_s), "--rate", str(cfg.reload_rate),
                        "--window", str(window), "--sockets", str(cfg.sockets), "--batch", str(cfg.batch)],
                       stdout=subprocess.PIPE, text=True)
            time.sleep(1.0)
            try:
                with open(f"/proc/{srv.pid}/clear_refs", "w") as f:
                    f.write("5")  # resets VmHWM, so it shows the reload's peak
            except OSError:
                pass
            peak = [proc_status_kb(srv.pid, "VmRSS") or 0]
            stop_sampler = threading.Event()

            def sampler():
                end = time.time() + run_s + 120
                while not stop_sampler.is_set() and time.time() < end:
                    v = proc_status_kb(srv.pid, "VmRSS")
                    if v:
                        peak[0] = max(peak[0], v)
                    time.sleep(0.01)

            th = threading.Thread(target=sampler, daemon=True)
            th.start()
            pos = os.path.getsize(logpath)
            t_mv = time.time()
            os.rename(tmp, target)
            if kind != "ward":
                os.kill(srv.pid, signal.SIGHUP)
            server_ms, t_seen = None, None
            deadline = t_mv + 120
            while time.time() < deadline:
                with open(logpath, errors="replace") as f:
                    f.seek(pos)
                    m = done_re.search(f.read())
                if m:
                    t_seen = time.time()
                    server_ms = float(m.group(1)) * (1 if kind == "ward" else 1000)
                    break
                time.sleep(0.01)
            time.sleep(0.3)
            stop_sampler.set()
            th.join(2)
            hwm = proc_status_kb(srv.pid, "VmHWM") or 0
            out, _ = lg.communicate(timeout=run_s + 60)
            r = json.loads(out)
            time.sleep(0.5)
            rec = {"server_ms": server_ms, "seen_after_s": (t_seen - t_mv) if t_seen else None,
                   "peak_rss_kb": max(peak[0], hwm), "rss_after_kb": proc_status_kb(srv.pid, "VmRSS"),
                   "loadgen": r}
            res["reloads"].append(rec)
            log(f"    reload {k + 1}: server {server_ms} ms, seen after {rec['seen_after_s'] or 0:.2f} s, "
                f"peak RSS {rec['peak_rss_kb'] / 1024:.0f} MB; queries meanwhile p50 {r['lat_us']['p50']} µs "
                f"p99 {r['lat_us']['p99']} µs p99.9 {r['lat_us']['p999']} µs max {r['lat_us']['max']} µs lost {r['lost']}")
            if server_ms is None:
                raise RuntimeError(f"{kind} did not report a reload (log: {logpath})")
    finally:
        srv.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    rl = res["reloads"]
    res["summary"] = {
        "load_s": res["load_s"],
        "rss_mb": res["rss_kb"] / 1024,
        "reload_ms": med([x["server_ms"] for x in rl]),
        "seen_after_s": med([x["seen_after_s"] for x in rl]),
        "peak_rss_mb": med([x["peak_rss_kb"] / 1024 for x in rl]),
        "rss_after_mb": med([x["rss_after_kb"] / 1024 for x in rl if x["rss_after_kb"]]),
        "idle_p50_us": res["idle"]["lat_us"]["p50"],
        "idle_p99_us": res["idle"]["lat_us"]["p99"],
        "idle_max_us": res["idle"]["lat_us"]["max"],
        "idle_lost": res["idle"]["lost"],
        "reload_p50_us": med([x["loadgen"]["lat_us"]["p50"] for x in rl]),
        "reload_p99_us": med([x["loadgen"]["lat_us"]["p99"] for x in rl]),
        "reload_p999_us": med([x["loadgen"]["lat_us"]["p999"] for x in rl]),
        "reload_max_us": med([x["loadgen"]["lat_us"]["max"] for x in rl]),
        "reload_lost": med([x["loadgen"]["lost"] for x in rl]),
        "run_s": run_s,
    }
    results["reload"][f"{setname} {kind}"] = res


# ------------------------------------------------------------------ report

def fmt(v, nd=0, scale=1.0):
    if v is None:
        return "–"
    v = v * scale
    return f"{v:,.{nd}f}"


def machine_info(cfg):
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = proc_meminfo_gb()

    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except Exception:
            return None

    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "mem_gb": mem,
        "loadavg_start": os.getloadavg(),
        "ward": cfg.ward,
        "ward_commit": cfg.ward_commit,
        "rbldnsd": version(["dpkg-query", "-W", "-f", "${Version}", "rbldnsd"]),
        "fork": cfg.fork,
        "dnsperf": version(["sh", "-c", "dnsperf -h 2>&1 | grep -i '^Version'"]),
        "python": platform.python_version(),
    }


def proc_meminfo_gb():
    try:
        with open("/proc/meminfo") as f:
            return round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        return None


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "–"


def report(cfg, results):
    m = results["machine"]
    L = []
    L.append(f"# ward benchmark, {m['date']}{' (quick)' if cfg.quick else ''}\n")
    L.append(f"- machine: {m['nproc']} CPUs, {m['cpu']}, {m['mem_gb']} GiB, Linux {m['kernel']}")
    L.append(f"- load average: {' / '.join(f'{x:.2f}' for x in m['loadavg_start'])} at start, "
             f"{' / '.join(f'{x:.2f}' for x in m['loadavg_end'])} at end")
    L.append(f"- ward: `{m['ward']}` (commit {m['ward_commit'] or '?'}); rbldnsd (Debian) {m['rbldnsd']}; "
             f"rspamd fork: `{m['fork']}`; {m['dnsperf']}")
    L.append(f"- command: `{results['command']}`; {results['duration_s'] / 60:.1f} min, of which "
             f"{results.get('waited_for_quiet_s', 0):.0f} s waiting for other work on the machine to finish")
    L.append(f"- ward loads on CPUs {cfg.load_cpus}, then all its threads are pinned to CPU {cfg.server_cpu}; "
             "the other servers load on one thread")
    L.append(f"- server pinned to CPU {cfg.server_cpu} (ward `--threads 1`); loadgen pinned to CPU "
             f"{cfg.client_cpu}, window {cfg.window}, {cfg.sockets} sockets, batches of {cfg.batch}, "
             f"{cfg.seconds} s per run; rate-limited runs at {cfg.rate} qps for {cfg.rate_seconds} s; "
             f"`dnsperf {cfg.dnsperf_args}` unpinned; {cfg.repeats} runs each, medians shown. The servers of a "
             "set run side by side on their own ports (idle but the one under load), started one at a time "
             "for the load time, and the runs are interleaved across them")
    L.append("")
    headline = []
    for setname, sres in results["sets"].items():
        meta = sres["meta"]
        detail = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in (meta.get("entries_detail") or {}).items())
        L.append(f"## {setname}: {meta['entries']:,} entries{f' ({detail})' if detail else ''}, "
                 f"{meta['hit_ratio'] * 100:.0f} % hits\n")
        L.append("| server | load s | RSS MB | peak MB | qps (closed loop) | server CPU s | q / CPU-s | user / kernel ns a query | p50 µs | p99 µs | lost | "
                 f"p50 / p99 µs @{cfg.rate // 1000}k | dnsperf qps | dnsperf CPU s | dnsperf q / CPU-s | dnsperf lost | answered % |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for label, r in sres["servers"].items():
            s = r["summary"]
            L.append(f"| {label} | {fmt(s.get('load_s'), 2)} | {fmt(s.get('rss_mb'), 1)} | {fmt(s.get('hwm_mb'), 0)} | {fmt(s.get('qps'))} | "
                     f"{fmt(s.get('cpu_s'), 2)} | {fmt(s.get('q_per_cpu_s'))} | "
                     f"{fmt(s.get('user_ns_per_q'))} / {fmt(s.get('kernel_ns_per_q'))} | {fmt(s.get('p50_us'))} | "
                     f"{fmt(s.get('p99_us'))} | {fmt(s.get('lost'))} | "
                     f"{fmt(s.get('rate_p50_us'))} / {fmt(s.get('rate_p99_us'))} | {fmt(s.get('dp_qps'))} | "
                     f"{fmt(s.get('dp_cpu_s'), 2)} | {fmt(s.get('dp_q_per_cpu_s'))} | {fmt(s.get('dp_lost'))} | "
                     f"{fmt(s.get('answer_pct'), 1)} |")
        rep_runs = sum(r["summary"].get("repeated_runs", 0) for r in sres["servers"].values())
        noisy = sum(r["summary"].get("noisy_runs", 0) for r in sres["servers"].values())
        if rep_runs or noisy:
            L.append(f"\n{rep_runs} run(s) repeated because other work on the machine used the CPU meanwhile; "
                     f"{noisy} kept although disturbed (see the JSON).")
        ward = sres["servers"].get("ward", {}).get("summary")
        pairs = [("ward", ward, other, sres["servers"].get(other, {}).get("summary"))
                 for other in ("rbldnsd", "fork", "fork-dnhash", "knot")]
        # What the optional parts cost: ward with them on, against ward without.
        pairs += [(variant, sres["servers"].get(variant, {}).get("summary"), "ward", ward)
                  for variant in ("ward-metrics", "ward-rrl")]
        for name, a, other, b in pairs:
            if a and b:
                headline.append(
                    f"| {setname} | {name} / {other} | {ratio(a.get('q_per_cpu_s'), b.get('q_per_cpu_s'))} | "
                    f"{ratio(a.get('dp_q_per_cpu_s'), b.get('dp_q_per_cpu_s'))} | {ratio(a.get('qps'), b.get('qps'))} | "
                    f"{ratio(a.get('rss_mb'), b.get('rss_mb'))} | {ratio(a.get('load_s'), b.get('load_s'))} | "
                    f"{ratio(a.get('rate_p99_us'), b.get('rate_p99_us'))} |")
        chk = sres.get("check")
        if chk:
            L.append("")
            L.append(f"Answers (rcode and answer records) compared with {chk['reference']} on {chk['queries']} "
                     "sampled queries: " + "; ".join(
                         f"{k}: {v['differ']} differ" + (f" ({v['nodata_for_nxdomain']} of them NOERROR/NODATA for "
                                                          "NXDOMAIN, on purpose)" if v.get("nodata_for_nxdomain") else "")
                         for k, v in chk["servers"].items()))
            for k, v in chk["servers"].items():
                for ex in v["examples"][:3]:
                    L.append(f"  - {k}: `{ex[0]}`: {chk['reference']} `{ex[1]}`, {k} `{ex[2]}`")
        L.append("")
    if headline:
        L.append("## Ratios (above 1 = ward has more; for RSS, load time and p99, below 1 is better)\n")
        L.append("| set | pair | q / CPU-s (loadgen) | q / CPU-s (dnsperf) | qps (loadgen) | RSS | load time | p99 @rate |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|")
        L.extend(headline)
        L.append("")
    if results["reload"]:
        L.append(f"## Reload under load ({cfg.reload_rate} qps, server pinned to one core)\n")
        L.append("| set, server | load s | RSS MB | reload ms (server) | seen after s | peak RSS MB | RSS after MB | "
                 "idle p50 / p99 / max µs | during reload p50 / p99 / p99.9 / max µs | lost idle / reload |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for k, r in results["reload"].items():
            s = r["summary"]
            L.append(f"| {k} | {fmt(s['load_s'], 2)} | {fmt(s['rss_mb'], 1)} | {fmt(s['reload_ms'])} | "
                     f"{fmt(s['seen_after_s'], 2)} | {fmt(s['peak_rss_mb'])} | {fmt(s['rss_after_mb'])} | "
                     f"{fmt(s['idle_p50_us'])} / {fmt(s['idle_p99_us'])} / {fmt(s['idle_max_us'])} | "
                     f"{fmt(s['reload_p50_us'])} / {fmt(s['reload_p99_us'])} / {fmt(s['reload_p999_us'])} / "
                     f"{fmt(s['reload_max_us'])} | {fmt(s['idle_lost'])} / {fmt(s['reload_lost'])} |")
        L.append("")
    for setname, sres in results["sets"].items():
        for label, r in sres["servers"].items():
            if r.get("profile"):
                L.append(f"## Profile: {label} on {setname} (perf record -e cpu-clock, closed loop)\n")
                L.append("```")
                L.extend(r["profile"]["dso"])
                L.append("")
                L.extend(r["profile"]["top"])
                L.append("```\n")
    return "\n".join(L) + "\n"


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--work", default="/tmp/ward-bench")
    ap.add_argument("--data", default=None, help="data dir (default WORK/data)")
    ap.add_argument("--results", required=True, help="directory for <date>.md and .json")
    ap.add_argument("--ward", required=True)
    ap.add_argument("--ward-commit", default=None)
    ap.add_argument("--fork", default=None)
    ap.add_argument("--rbldnsd", default="/usr/sbin/rbldnsd")
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--sets", default=None)
    ap.add_argument("--servers", default="rbldnsd,fork,fork-dnhash,ward,ward-dnset,ward-metrics,ward-rrl,knot")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--rate", type=int, default=50_000)
    ap.add_argument("--rate-seconds", type=float, default=None)
    ap.add_argument("--dnsperf-limit", type=int, default=None, help="dnsperf -l; 0 skips dnsperf")
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--sockets", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--port", type=int, default=5391)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    ap.add_argument("--load-cpus", default=None,
                    help="CPUs ward may load on (default: all; rbldnsd loads on one thread anyway)")
    ap.add_argument("--reload-sets", default=None)
    ap.add_argument("--reload-servers", default="ward,rbldnsd")
    ap.add_argument("--reload-rate", type=int, default=20_000)
    ap.add_argument("--reloads", type=int, default=None)
    ap.add_argument("--profile", default=None, help="sets to profile ward on (perf record), e.g. ip4-1m")
    ap.add_argument("--ready-timeout", type=float, default=300)
    ap.add_argument("--quiet-cores", type=float, default=0.15,
                    help="before each run, wait until the machine uses less than this many cores")
    ap.add_argument("--quiet-timeout", type=float, default=300, help="seconds to wait for quiet at most, each time")
    ap.add_argument("--quiet-budget", type=float, default=900, help="seconds to wait for quiet at most, in all")
    ap.add_argument("--foreign-limit", type=float, default=0.05,
                    help="repeat a run when other work used more than this share of a core during it")
    ap.add_argument("--retries", type=int, default=3)
    ap.add_argument("--command", default=" ".join(sys.argv))
    cfg = ap.parse_args()
    if cfg.load_cpus is None:
        cfg.load_cpus = f"0-{os.cpu_count() - 1}"
    q = cfg.quick
    cfg.sets = (cfg.sets or ("ip4-1m" if q else "ip4-1m,ip4-10m,ip6-1m,dom-1m,addr-1m,ip4-100k")).split(",")
    cfg.servers = cfg.servers.split(",")
    cfg.repeats = cfg.repeats or (2 if q else 3)
    cfg.seconds = cfg.seconds or (3.0 if q else 5.0)
    cfg.rate_seconds = cfg.rate_seconds or (2.0 if q else 3.0)
    if cfg.dnsperf_limit is None:
        cfg.dnsperf_limit = 3 if q else 8
    cfg.dnsperf_args = f"-c 8 -T 1 -l {cfg.dnsperf_limit}"
    cfg.reload_sets = [s for s in (cfg.reload_sets if cfg.reload_sets is not None
                                   else ("ip4-1m" if q else "ip4-1m,ip4-10m")).split(",")
                        if s and s != "none"]
    cfg.reload_servers = [s for s in cfg.reload_servers.split(",") if s]
    if q:
        cfg.reload_servers = [s for s in cfg.reload_servers if s == "ward"]
    cfg.reloads = cfg.reloads or (2 if q else 3)
    cfg.profile = [s for s in (cfg.profile if cfg.profile is not None else ("" if q else "ip4-1m")).split(",") if s]
    cfg.data = cfg.data or os.path.join(cfg.work, "data")
    cfg.waited = 0.0
    os.makedirs(os.path.join(cfg.work, "logs"), exist_ok=True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    t_start = time.time()
    results = {"command": cfg.command, "machine": machine_info(cfg), "sets": {}, "reload": {},
               "config": {k: v for k, v in vars(cfg).items() if k != "command"}}
    try:
        # the same sampled queries for every server: every 200th line of the query file
        cfg.samples = {}
        for setname in cfg.sets:
            with open(os.path.join(cfg.data, setname, "queries.txt")) as f:
                lines = f.read().split("\n")
            cfg.samples[setname] = [tuple(l.split()) for l in lines[::200] if l]
        for setname in cfg.sets:
            setdir = os.path.join(cfg.data, setname)
            with open(os.path.join(setdir, "meta.json")) as f:
                meta = json.load(f)
            results["sets"][setname] = {"meta": {k: v for k, v in meta.items() if not k.startswith("sample")},
                                        "servers": {}}
            log(f"{setname}: {meta['entries']:,} entries")
            bench_set(cfg, setname, meta, setdir, results)
            # answers of every server against the first one (Debian rbldnsd by default)
            srvs = results["sets"][setname]["servers"]
            if len(srvs) > 1:
                ref_label = next(iter(srvs))
                ref = srvs[ref_label]["check"]
                chk = {"reference": ref_label, "queries": len(ref), "servers": {}}
                for label, r in srvs.items():
                    if label == ref_label:
                        continue
                    diffs = compare(ref, r["check"])
                    # ward answers NODATA where names exist below the queried one (a
                    # wildcard's base, empty non-terminals): a documented difference
                    nodata = [d for d in diffs if str(d[1]).startswith("NXDOMAIN []") and str(d[2]).startswith("NOERROR []")]
                    other = [d for d in diffs if d not in nodata]
                    chk["servers"][label] = {"differ": len(diffs), "nodata_for_nxdomain": len(nodata),
                                             "examples": (other + nodata)[:10]}
                results["sets"][setname]["check"] = chk
                log(f"  answers vs {ref_label}: " + ", ".join(f"{k} {v['differ']} differ" for k, v in chk["servers"].items()))
            for r in srvs.values():
                r.pop("check", None)
        for setname in cfg.reload_sets:
            setdir = os.path.join(cfg.data, setname)
            with open(os.path.join(setdir, "meta.json")) as f:
                meta = json.load(f)
            for kind in cfg.reload_servers:
                reload_bench(cfg, kind, setname, meta, setdir, results)
    finally:
        cleanup()
        results["duration_s"] = time.time() - t_start
        results["machine"]["loadavg_end"] = os.getloadavg()
        results["waited_for_quiet_s"] = round(cfg.waited, 1)
        if results["sets"] or results["reload"]:
            os.makedirs(cfg.results, exist_ok=True)
            stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M") + ("-quick" if q else "")
            md = report(cfg, results)
            with open(os.path.join(cfg.results, stamp + ".md"), "w") as f:
                f.write(md)
            with open(os.path.join(cfg.results, stamp + ".json"), "w") as f:
                json.dump(results, f, indent=1, default=str)
            print(md)
            log(f"results: {os.path.join(cfg.results, stamp + '.md')} (and .json)")


if __name__ == "__main__":
    main()

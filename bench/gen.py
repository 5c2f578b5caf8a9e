#!/usr/bin/env python3
"""Generate the benchmark data sets and query files (stdlib only, deterministic).

    python3 bench/gen.py OUTDIR [--sets ip4-1m,ip4-10m,ip6-1m,dom-1m,addr-1m]
                                [--queries 200000] [--seed 1] [--force]

For every set S this writes OUTDIR/S/:

    rbldnsd/<file>       the data in rbldnsd syntax (world-readable, rbldnsd drops
                         privileges before it reads it)
    ward/                a zones directory for `ward serve --zones` with the same data
                         (hard links to the rbldnsd files; addr-1m uses ward's own
                         `.zone` format with the plain addresses instead)
    ward-dnset/          addr-1m only: the sha1 names as a dnset, the data rbldnsd gets
    queries.txt          dnsperf format, `name TYPE` per line, shuffled
    meta.json            zone, entry counts, the server command-line pieces, a probe
                         name that must answer, and samples of hits and misses

A set is only regenerated when its meta.json is missing, was written by another
version of this script, or with --force.

Every hit is computed from the generated entries, every miss is checked against them,
so the hit ratio in meta.json is exact. Queries are 70 % A and 30 % TXT.
"""

import argparse
import hashlib
import json
import os
import random
import socket
import struct
import sys
import time
from bisect import bisect_right

ALL_SETS = ["ip4-1m", "ip4-10m", "ip6-1m", "dom-1m", "addr-1m", "ip4-100k"]
HIT_RATIO = 0.30
A_RATIO = 0.70
SOA = "$SOA 3600 ns1.bench. hostmaster.bench. 0 600 300 86400 60\n$NS 3600 ns1.bench.\n"
CHUNK = 200_000


def script_version():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()[:16]


def set_rng(seed, name):
    # Each set has its own stream: regenerating one set never changes another.
    return random.Random(f"{seed}:{name}")


class Writer:
    """Buffered line writer: joins chunks of lines, so 10M lines stay fast."""

    def __init__(self, path):
        self.f = open(path, "w", encoding="ascii", newline="\n")
        self.buf = []

    def add(self, line):
        self.buf.append(line)
        if len(self.buf) >= CHUNK:
            self.flush()

    def flush(self):
        if self.buf:
            self.f.write("\n".join(self.buf))
            self.f.write("\n")
            self.buf = []

    def close(self):
        self.flush()
        self.f.close()


def qtype(rng):
    return "A" if rng.random() < A_RATIO else "TXT"


def write_queries(path, hits, misses, rng, zone):
    """hits/misses: lists of query names relative to the zone (no trailing dot)."""
    names = [(h, True) for h in hits] + [(m, False) for m in misses]
    rng.shuffle(names)
    with open(path, "w", encoding="ascii") as f:
        f.write("".join(f"{n}.{zone} {qtype(rng)}\n" for n, _ in names))
    return len(hits), len(misses)


def make_dirs(out):
    for d in (out, os.path.join(out, "rbldnsd")):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)


def link_as_dnhash(out, fname, hname):
    """The fork's dnhash reads dnset files unchanged: the same bytes under another name."""
    hpath = os.path.join(out, "rbldnsd", hname)
    if os.path.exists(hpath):
        os.unlink(hpath)
    os.link(os.path.join(out, "rbldnsd", fname), hpath)


def ward_link(out, zone, src_name, ward_dir="ward"):
    """ward/<zone>/<src_name> as a hard link to rbldnsd/<src_name> (same bytes)."""
    zdir = os.path.join(out, ward_dir, zone)
    os.makedirs(zdir, exist_ok=True)
    dst = os.path.join(zdir, src_name)
    if os.path.exists(dst):
        os.unlink(dst)
    os.link(os.path.join(out, "rbldnsd", src_name), dst)


# ---------------------------------------------------------------- IPv4

BAD_FIRST_OCTET = bytes(1 if (o in (0, 10, 127) or o >= 224) else 0 for o in range(256))


def rand_ip4(rng):
    while True:
        x = rng.getrandbits(32)
        if not BAD_FIRST_OCTET[x >> 24]:
            return x


def ip4_str(x, _pack=struct.Struct(">I").pack, _ntoa=socket.inet_ntoa):
    return _ntoa(_pack(x))


def ip4_rev(x):
    return f"{x & 255}.{(x >> 8) & 255}.{(x >> 16) & 255}.{x >> 24}"


def gen_ip4(out, name, n, nq, seed):
    rng = set_rng(seed, name)
    zone = "ip4.bench"
    fname = "data.ip4set"
    n_ranges = max(5, n // 100_000 * 5)
    n_cidr = n * 2 // 100
    n_alt = n // 100  # entries with their own value instead of the default
    n_single = n - n_cidr - n_ranges

    t0 = time.time()
    singles = set()
    getrandbits = rng.getrandbits
    bad = BAD_FIRST_OCTET
    add = singles.add
    while len(singles) < n_single:
        # batches keep the interpreter loop tight
        for _ in range(n_single - len(singles)):
            x = getrandbits(32)
            if not bad[x >> 24]:
                add(x)
    singles = list(singles)
    rng.shuffle(singles)  # set order is not random enough to be the file order

    cidrs = {}  # plen -> set of network ints
    cidr_list = []
    while len(cidr_list) < n_cidr:
        plen = rng.randint(24, 28)
        net = rand_ip4(rng) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        s = cidrs.setdefault(plen, set())
        if net not in s:
            s.add(net)
            cidr_list.append((net, plen))
    ranges = []
    for _ in range(n_ranges):
        start = rand_ip4(rng)
        ranges.append((start, min(start + rng.randint(16, 1000), 0xDFFFFFFF)))
    ranges.sort()
    range_starts = [r[0] for r in ranges]

    def covered(x):
        if x in single_set:
            return True
        for plen, s in cidrs.items():
            if (x & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)) in s:
                return True
        i = bisect_right(range_starts, x) - 1
        return i >= 0 and ranges[i][0] <= x <= ranges[i][1]

    # file: SOA, default value, then entries in a random order (as feeds arrive)
    make_dirs(out)
    w = Writer(os.path.join(out, "rbldnsd", fname))
    w.add(SOA + ":127.0.0.2:Listed: see https://bench.example/lookup?ip=$")
    ntoa, pack = socket.inet_ntoa, struct.Struct(">I").pack
    alt_every = max(1, n_single // max(1, n_alt))
    other = []
    for net, plen in cidr_list:
        other.append(f"{ntoa(pack(net))}/{plen}")
    for a, b in ranges:
        other.append(f"{ntoa(pack(a))}-{ntoa(pack(b))}")
    # spread the CIDRs and ranges through the file
    step = max(1, n_single // max(1, len(other)))
    oi = 0
    for i, x in enumerate(singles):
        if i % alt_every == 0:
            w.add(f"{ntoa(pack(x))} :127.0.0.3:Compromised host $")
        else:
            w.add(ntoa(pack(x)))
        if i % step == 0 and oi < len(other):
            w.add(other[oi])
            oi += 1
    for line in other[oi:]:
        w.add(line)
    w.close()
    ward_link(out, zone, fname)
    t_data = time.time() - t0

    # queries: hits chosen per entry line (each line equally likely)
    single_set = set(singles)
    n_hit = int(nq * HIT_RATIO)
    hits = []
    n_lines = len(singles) + len(cidr_list) + len(ranges)
    for _ in range(n_hit):
        i = rng.randrange(n_lines)
        if i < len(singles):
            x = singles[i]
        elif i < len(singles) + len(cidr_list):
            net, plen = cidr_list[i - len(singles)]
            x = net + rng.randrange(1 << (32 - plen))
        else:
            a, b = ranges[i - len(singles) - len(cidr_list)]
            x = rng.randint(a, b)
        hits.append(ip4_rev(x))
    misses = []
    while len(misses) < nq - n_hit:
        if rng.random() < 0.3:
            # a neighbour of a listed address: same /24, not listed itself
            x = (singles[rng.randrange(len(singles))] & 0xFFFFFF00) | rng.randrange(256)
        else:
            x = rand_ip4(rng)
        if not covered(x):
            misses.append(ip4_rev(x))
    write_queries(os.path.join(out, "queries.txt"), hits, misses, rng, zone)
    probe = ip4_rev(singles[1]) + "." + zone  # singles[1]: default value
    return {
        "zone": zone,
        "entries": n_lines,
        "entries_detail": {"single": len(singles), "cidr": len(cidr_list), "range": len(ranges),
                           "own_value": (len(singles) + alt_every - 1) // alt_every},
        "rbldnsd": [[zone, "ip4set", fname]],
        "fork": [[zone, "ip4set", fname]],
        "ward": "ward",
        "probe": probe,
        "sample_hits": [f"{h}.{zone}" for h in hits[:20]],
        "sample_misses": [f"{m}.{zone}" for m in misses[:20]],
        "data_seconds": round(t_data, 1),
    }


def gen_ip4_zonefile(out, name, n, nq, seed):
    """n random /32s, also as a plain zone file (an A and a TXT record each) for a
    general-purpose authoritative server (Knot) beside rbldnsd and ward: the same names
    and answers, rbldnsd's TTL (2100 s) and texts."""
    rng = set_rng(seed, name)
    zone = "ip4.bench"
    fname = "data.ip4set"
    t0 = time.time()
    listed = set()
    while len(listed) < n:
        listed.add(rand_ip4(rng))
    singles = sorted(listed)
    rng.shuffle(singles)
    alt_every = 100
    make_dirs(out)
    os.makedirs(os.path.join(out, "knot"), exist_ok=True)
    w = Writer(os.path.join(out, "rbldnsd", fname))
    w.add(SOA + ":127.0.0.2:Listed: see https://bench.example/lookup?ip=$")
    zf = Writer(os.path.join(out, "knot", zone + ".zone"))
    zf.add(f"$ORIGIN {zone}.\n$TTL 2100\n"
           "@ 3600 IN SOA ns1.bench. hostmaster.bench. 1 600 300 86400 60\n@ 3600 IN NS ns1.bench.")
    for i, x in enumerate(singles):
        ip = ip4_str(x)
        if i % alt_every == 0:
            w.add(f"{ip} :127.0.0.3:Compromised host $")
            zf.add(f'{ip4_rev(x)} A 127.0.0.3\n{ip4_rev(x)} TXT "Compromised host {ip}"')
        else:
            w.add(ip)
            zf.add(f'{ip4_rev(x)} A 127.0.0.2\n{ip4_rev(x)} TXT "Listed: see https://bench.example/lookup?ip={ip}"')
    w.close()
    zf.close()
    ward_link(out, zone, fname)
    t_data = time.time() - t0

    n_hit = int(nq * HIT_RATIO)
    hits = [ip4_rev(singles[rng.randrange(n)]) for _ in range(n_hit)]
    misses = []
    while len(misses) < nq - n_hit:
        if rng.random() < 0.3:
            x = (singles[rng.randrange(n)] & 0xFFFFFF00) | rng.randrange(256)
        else:
            x = rand_ip4(rng)
        if x not in listed:
            misses.append(ip4_rev(x))
    write_queries(os.path.join(out, "queries.txt"), hits, misses, rng, zone)
    return {
        "zone": zone,
        "entries": n,
        "entries_detail": {"single": n, "own_value": (n + alt_every - 1) // alt_every},
        "rbldnsd": [[zone, "ip4set", fname]],
        "fork": [[zone, "ip4set", fname]],
        "ward": "ward",
        "knot": "knot",
        "probe": ip4_rev(singles[1]) + "." + zone,
        "sample_hits": [f"{h}.{zone}" for h in hits[:20]],
        "sample_misses": [f"{m}.{zone}" for m in misses[:20]],
        "data_seconds": round(t_data, 1),
    }


# ---------------------------------------------------------------- IPv6

def ip6_rev(x):
    return ".".join(reversed(f"{x:032x}"))


def ip6_full(x):
    h = f"{x:032x}"
    return ":".join(h[i:i + 4].lstrip("0") or "0" for i in range(0, 32, 4))


def ip6_net64(hi):
    h = f"{hi:016x}"
    return ":".join(h[i:i + 4].lstrip("0") or "0" for i in range(0, 16, 4)) + "::/64"


def gen_ip6(out, name, n, nq, seed):
    rng = set_rng(seed, name)
    zone = "ip6.bench"
    fname = "data.ip6trie"
    t0 = time.time()
    # listings cluster in providers' /32s, as real ones do
    providers = [(0x2000_0000 | rng.getrandbits(29)) for _ in range(20_000)]
    n64 = n * 6 // 10
    n128 = n - n64
    nets = set()
    while len(nets) < n64:
        nets.add((rng.choice(providers) << 32) | rng.getrandbits(32))
    nets = list(nets)
    rng.shuffle(nets)
    hosts = set()
    while len(hosts) < n128:
        hi = (rng.choice(providers) << 32) | rng.getrandbits(32)
        hosts.add((hi << 64) | rng.getrandbits(64))
    hosts = list(hosts)
    rng.shuffle(hosts)
    net_set = set(nets)
    host_set = set(hosts)

    make_dirs(out)
    w = Writer(os.path.join(out, "rbldnsd", fname))
    w.add(SOA + ":127.0.0.2:Listed: see https://bench.example/lookup?ip=$")
    # interleave /64s and /128s
    j = 0
    for i, hi in enumerate(nets):
        w.add(ip6_net64(hi))
        if i % 3 != 2 and j < len(hosts):
            w.add(ip6_full(hosts[j]))
            j += 1
    for x in hosts[j:]:
        w.add(ip6_full(x))
    w.close()
    ward_link(out, zone, fname)
    t_data = time.time() - t0

    n_hit = int(nq * HIT_RATIO)
    hits = []
    for _ in range(n_hit):
        if rng.random() < n64 / n:
            hits.append(ip6_rev((rng.choice(nets) << 64) | rng.getrandbits(64)))
        else:
            hits.append(ip6_rev(rng.choice(hosts)))
    misses = []
    while len(misses) < nq - n_hit:
        if rng.random() < 0.5:
            hi = (rng.choice(providers) << 32) | rng.getrandbits(32)
        else:
            hi = (0x2000_0000 << 32) | rng.getrandbits(61)
        x = (hi << 64) | rng.getrandbits(64)
        if hi not in net_set and x not in host_set:
            misses.append(ip6_rev(x))
    write_queries(os.path.join(out, "queries.txt"), hits, misses, rng, zone)
    return {
        "zone": zone,
        "entries": n,
        "entries_detail": {"net64": n64, "host128": n128},
        "rbldnsd": [[zone, "ip6trie", fname]],
        "fork": [[zone, "ip6trie", fname]],
        "ward": "ward",
        "probe": ip6_rev(hosts[0]) + "." + zone,
        "sample_hits": [f"{h}.{zone}" for h in hits[:20]],
        "sample_misses": [f"{m}.{zone}" for m in misses[:20]],
        "data_seconds": round(t_data, 1),
    }


# ---------------------------------------------------------------- domains

TLDS = (["com"] * 30 + ["net"] * 8 + ["org"] * 5 + ["ru"] * 5 + ["info"] * 4 + ["xyz"] * 4
        + ["top"] * 4 + ["de", "cn", "br", "uk", "co.uk", "com.br", "fr", "it", "pl", "nl",
                         "online", "site", "club", "shop", "biz", "us", "in", "jp"])
LETTERS = "abcdefghijklmnopqrstuvwxyz"
LABEL_CHARS = LETTERS * 3 + "0123456789-"
SUBS = ["mail", "www", "smtp", "mx", "news", "info", "promo", "em", "click", "track", "go", "m"]


def rand_label(rng, lo=4, hi=14):
    k = rng.randint(lo, hi)
    s = rng.choice(LETTERS) + "".join(rng.choices(LABEL_CHARS, k=k - 2)) + rng.choice(LETTERS)
    return s


def rand_domain(rng):
    d = rand_label(rng) + "." + rng.choice(TLDS)
    if rng.random() < 0.2:
        d = rng.choice(SUBS + [rand_label(rng, 3, 8)]) + "." + d
    return d


def gen_dom(out, name, n, nq, seed, fork_dnhash=True):
    rng = set_rng(seed, name)
    zone = "dom.bench"
    t0 = time.time()
    n_wild = n // 10
    names = set()
    while len(names) < n:
        names.add(rand_domain(rng))
    names = sorted(names)  # not list(): a set of strings iterates in a per-process order
    rng.shuffle(names)
    wild = names[:n_wild]     # listed as *.name
    plain = names[n_wild:]    # listed as name
    wild_set = set(wild)
    plain_set = set(plain)

    make_dirs(out)
    fname = "data.dnset"
    w = Writer(os.path.join(out, "rbldnsd", fname))
    w.add(SOA + ":127.0.0.2:Listed: see https://bench.example/lookup?d=$")
    alt_every = 50
    for i, d in enumerate(names):
        line = ("*." + d) if i < n_wild else d
        if i % alt_every == 7:
            line += " :127.0.0.4:Spam domain $"
        w.add(line)
    w.close()
    # the fork's dnhash reads the dnset syntax unchanged: same bytes, other name
    hname = "data.dnhash"
    link_as_dnhash(out, fname, hname)
    ward_link(out, zone, fname)
    t_data = time.time() - t0

    def listed(q):
        if q in plain_set:
            return True
        parts = q.split(".")
        for i in range(1, len(parts)):
            if ".".join(parts[i:]) in wild_set:
                return True
        return False

    n_hit = int(nq * HIT_RATIO)
    hits = []
    for _ in range(n_hit):
        if rng.random() < 0.2:  # a wildcard listing matches many names: 20 % of hits
            q = rng.choice(SUBS) + "." + rng.choice(wild)
        else:
            q = rng.choice(plain)
        hits.append(q)
    misses = []
    while len(misses) < nq - n_hit:
        r = rng.random()
        if r < 0.15:
            q = rng.choice(SUBS) + "." + rng.choice(plain)  # below a plain listing
        elif r < 0.20:
            q = rng.choice(wild)  # the base of a wildcard listing
        else:
            q = rand_domain(rng)
        if not listed(q):
            misses.append(q)
    write_queries(os.path.join(out, "queries.txt"), hits, misses, rng, zone)
    return {
        "zone": zone,
        "entries": n,
        "entries_detail": {"plain": len(plain), "wildcard": len(wild)},
        "rbldnsd": [[zone, "dnset", fname]],
        "fork": [[zone, "dnset", fname]],
        "fork_dnhash": [[zone, "dnhash", hname]],
        "ward": "ward",
        "probe": plain[1] + "." + zone,
        "sample_hits": [f"{h}.{zone}" for h in hits[:20]],
        "sample_misses": [f"{m}.{zone}" for m in misses[:20]],
        "data_seconds": round(t_data, 1),
    }


# ---------------------------------------------------------------- email addresses

MAIL_DOMAINS = ["yahoo.com", "outlook.com", "hotmail.com", "mail.ru", "yandex.ru", "aol.com",
                "gmx.de", "web.de", "icloud.com", "proton.me", "qq.com", "163.com"]
FIRST = ["anna", "john", "li", "maria", "max", "olga", "paul", "sam", "tom", "wei", "info",
         "sales", "admin", "noreply", "support", "news", "contact", "office", "team", "hr"]


def rand_local(rng):
    r = rng.random()
    if r < 0.3:
        return rng.choice(FIRST) + "." + rand_label(rng, 3, 10)
    if r < 0.6:
        return rng.choice(FIRST) + str(rng.randrange(100000))
    return rand_label(rng, 5, 16).replace("-", "_")


def gen_addr(out, name, n, nq, seed):
    """Addresses are generated already normalised (lowercase, no +tag, no Gmail),
    so sha1(address) is the name every server must answer."""
    rng = set_rng(seed, name)
    zone = "addr.bench"
    t0 = time.time()
    own_domains = [rand_domain(rng) for _ in range(50_000)]
    addrs = set()
    while len(addrs) < n:
        d = rng.choice(MAIL_DOMAINS) if rng.random() < 0.4 else rng.choice(own_domains)
        addrs.add(rand_local(rng) + "@" + d)
    addrs = sorted(addrs)  # not list(): a set of strings iterates in a per-process order
    rng.shuffle(addrs)
    sha = [hashlib.sha1(a.encode()).hexdigest() for a in addrs]
    sha_set = set(sha)

    make_dirs(out)
    # ward: its own format, the addresses themselves
    wdir = os.path.join(out, "ward")
    os.makedirs(wdir, exist_ok=True)
    w = Writer(os.path.join(wdir, zone + ".zone"))
    w.add(SOA + ":127.0.0.2:Listed address")
    for a in addrs:
        w.add(a)
    w.close()
    # rbldnsd: the sha1 names as a dnset (it cannot hash); the fork also as dnhash
    fname = "sha1.dnset"
    w = Writer(os.path.join(out, "rbldnsd", fname))
    w.add(SOA + ":127.0.0.2:Listed address")
    for h in sha:
        w.add(h)
    w.close()
    hname = "sha1.dnhash"
    link_as_dnhash(out, fname, hname)
    ward_link(out, zone, fname, ward_dir="ward-dnset")
    t_data = time.time() - t0

    n_hit = int(nq * HIT_RATIO)
    hits = [sha[rng.randrange(n)] for _ in range(n_hit)]
    misses = []
    while len(misses) < nq - n_hit:
        d = rng.choice(MAIL_DOMAINS) if rng.random() < 0.4 else rng.choice(own_domains)
        h = hashlib.sha1((rand_local(rng) + "@" + d).encode()).hexdigest()
        if h not in sha_set:
            misses.append(h)
    write_queries(os.path.join(out, "queries.txt"), hits, misses, rng, zone)
    return {
        "zone": zone,
        "entries": n,
        "rbldnsd": [[zone, "dnset", fname]],
        "fork": [[zone, "dnset", fname]],
        "fork_dnhash": [[zone, "dnhash", hname]],
        "ward": "ward",
        "ward_dnset": "ward-dnset",
        "probe": sha[0] + "." + zone,
        "probe_address": addrs[0],
        "sample_hits": [f"{h}.{zone}" for h in hits[:20]],
        "sample_misses": [f"{m}.{zone}" for m in misses[:20]],
        "data_seconds": round(t_data, 1),
    }


# ---------------------------------------------------------------- main

GENERATORS = {
    "ip4-1m": (gen_ip4, 1_000_000),
    "ip4-10m": (gen_ip4, 10_000_000),
    "ip6-1m": (gen_ip6, 1_000_000),
    "dom-1m": (gen_dom, 1_000_000),
    "addr-1m": (gen_addr, 1_000_000),
    "ip4-100k": (gen_ip4_zonefile, 100_000),
}


def generate(outdir, name, nq, seed):
    if name not in GENERATORS:
        raise SystemExit(f"unknown set {name}; known: {', '.join(ALL_SETS)}")
    gen, entries = GENERATORS[name]
    return gen(os.path.join(outdir, name), name, entries, nq, seed)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--sets", default=",".join(ALL_SETS))
    ap.add_argument("--queries", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    version = script_version()
    os.makedirs(args.outdir, exist_ok=True)
    os.chmod(args.outdir, 0o755)
    for name in [s for s in args.sets.split(",") if s]:
        meta_path = os.path.join(args.outdir, name, "meta.json")
        key = {"version": version, "queries": args.queries, "seed": args.seed}
        if not args.force and os.path.exists(meta_path):
            with open(meta_path) as f:
                old = json.load(f)
            if all(old.get(k) == v for k, v in key.items()):
                print(f"gen: {name}: cached", file=sys.stderr)
                continue
        t0 = time.time()
        print(f"gen: {name}: generating ...", file=sys.stderr, flush=True)
        meta = generate(args.outdir, name, args.queries, args.seed)
        meta.update(key)
        meta["set"] = name
        meta["hit_ratio"] = HIT_RATIO
        meta["seconds"] = round(time.time() - t0, 1)
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=1)
        print(f"gen: {name}: {meta['entries']} entries, {args.queries} queries in {meta['seconds']} s",
              file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

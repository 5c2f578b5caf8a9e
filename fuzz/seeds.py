#!/usr/bin/env python3
"""Writes the seed corpus: fuzz/corpus/<target>/<name>, a few dozen meaningful inputs per
target. Run from anywhere: `python3 fuzz/seeds.py`. It only adds or overwrites the files
it makes (the minimised campaign corpus beside them stays).

The queries are the shapes ward's tests send (tests/common/mod.rs, tests/garbage.rs),
aimed at the zones `src/fuzzing.rs` serves; the data files are the shipped `zones/`
and the zone texts of `tests/*.rs`, each behind the kind byte `ward::fuzzing` reads.
"""

import gzip
import hashlib
import ipaddress
import re
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"

# The kind byte of zone_file and gzip: its index in `KINDS` (src/fuzzing.rs); 0x80 also
# keeps the entries (`ward lookup`'s path).
KINDS = ["zone", "ip4set", "ip4tset", "ip4trie", "ip6tset", "ip6trie", "dnset", "combined", "generic", "acl"]
KEEP = 0x80

TYPES = {"A": 1, "NS": 2, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "OPT": 41,
         "IXFR": 251, "AXFR": 252, "ANY": 255, "CAA": 257}


def write(target, name, data):
    path = CORPUS / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)


# --- DNS messages ----------------------------------------------------------------------

def header(ident=0xABCD, flags=0x0000, counts=(1, 0, 0, 0)):
    return struct.pack(">HH4H", ident, flags, *counts)


def wire_name(name):
    """A dotted name, or a list of raw labels (a label may hold a dot)."""
    labels = name if isinstance(name, list) else [l for l in name.split(".") if l]
    out = b""
    for label in labels:
        label = label.encode() if isinstance(label, str) else label
        out += bytes([len(label)]) + label
    return out + b"\0"


def opt(payload=1232, version=0, do=False, options=b""):
    flags = 0x8000 if do else 0
    return b"\0" + struct.pack(">HHBBHH", TYPES["OPT"], payload, 0, version, flags, len(options)) + options


def query(name, qtype="A", edns=None, ident=0x2A00, flags=0x0000, qclass=1):
    qtype = TYPES[qtype] if isinstance(qtype, str) else qtype
    body = wire_name(name) + struct.pack(">HH", qtype, qclass)
    arcount = 0
    if edns is not None:
        body += edns
        arcount = 1
    return header(ident, flags, (1, 0, 0, arcount)) + body


def ixfr(zone, serial, edns=None, ident=0x2B00):
    """An IXFR request: the secondary's SOA (compressed names) in the authority section."""
    soa_rdata = b"\xc0\x0c\xc0\x0c" + struct.pack(">5I", serial, 600, 300, 86400, 60)
    body = wire_name(zone) + struct.pack(">HH", TYPES["IXFR"], 1)
    body += b"\xc0\x0c" + struct.pack(">HHIH", TYPES["SOA"], 1, 0, len(soa_rdata)) + soa_rdata
    arcount = 0
    if edns is not None:
        body += edns
        arcount = 1
    return header(ident, 0, (1, 0, 1, arcount)) + body


# The transfer key of the fuzz zones (`FUZZ_KEY` in src/fuzzing.rs).
FUZZ_KEY = ("fuzz.key", "ZnV6ei1rZXktZm9yLXRoZS10c2lnLXBhdGhzLTAxMjM=")


def tsig_signed(message, time=1_800_000_000, key=FUZZ_KEY):
    """`message` with a TSIG record, hmac-sha256 (RFC 8945 §4.3), at `time`."""
    import base64
    import hmac
    secret = base64.b64decode(key[1])
    key_name = wire_name(key[0])
    algorithm = wire_name("hmac-sha256")
    time_bytes = struct.pack(">Q", time)[2:]
    variables = key_name + struct.pack(">HI", 255, 0) + algorithm + time_bytes + struct.pack(">HHH", 300, 0, 0)
    mac = hmac.new(secret, message + variables, hashlib.sha256).digest()
    rdata = algorithm + time_bytes + struct.pack(">HH", 300, len(mac)) + mac + message[:2] + struct.pack(">HH", 0, 0)
    record = key_name + struct.pack(">HHIH", 250, 255, 0, len(rdata)) + rdata
    arcount = struct.unpack(">H", message[10:12])[0] + 1
    return message[:10] + struct.pack(">H", arcount) + message[12:] + record


def transfers():
    """Transfer requests and TSIG-signed messages for the zones src/fuzzing.rs lets
    transfer: mixed.test from 127.0.0.0/8, rbl.test signed with FUZZ_KEY."""
    e = opt()
    yield "xfr-ixfr-current", ixfr("mixed.test", 0)
    yield "xfr-ixfr-old-edns", ixfr("mixed.test", 1, e)
    yield "xfr-ixfr-keyed-unsigned", ixfr("rbl.test", 7)
    yield "xfr-axfr-edns", query("mixed.test", "AXFR", e)
    yield "xfr-axfr-signed", tsig_signed(query("rbl.test", "AXFR"))
    yield "xfr-ixfr-signed-edns", tsig_signed(ixfr("rbl.test", 7, e))
    yield "xfr-soa-signed", tsig_signed(query("rbl.test", "SOA"))
    yield "xfr-axfr-wrong-key", tsig_signed(query("rbl.test", "AXFR"), key=("other.key", FUZZ_KEY[1]))


def ip4(ip, zone):
    return ".".join(reversed(ip.split("."))) + "." + zone


def ip6(ip, zone):
    value = int(ipaddress.IPv6Address(ip))
    return ".".join(format((value >> (4 * i)) & 0xF, "x") for i in range(32)) + "." + zone


def sha1(text):
    return hashlib.sha1(text.encode()).hexdigest()


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def queries():
    """(name, packet): every answer shape of the fuzz zones, and the odd packets."""
    q = []
    add = lambda name, packet: q.append((name, packet))
    e = opt()
    # mixed.test: every key kind of a ward .zone file.
    add("ip4-listed-a", query(ip4("192.0.2.1", "mixed.test"), "A", e))
    add("ip4-listed-txt", query(ip4("192.0.2.1", "mixed.test"), "TXT", e))
    add("ip4-listed-any-noedns", query(ip4("192.0.2.1", "mixed.test"), "ANY"))
    add("ip4-cidr", query(ip4("192.0.2.99", "mixed.test"), "A"))
    add("ip4-excluded", query(ip4("192.0.2.7", "mixed.test"), "TXT", e))
    add("ip4-range", query(ip4("198.51.100.15", "mixed.test"), "TXT", e))
    add("ip4-unlisted", query(ip4("203.0.113.9", "mixed.test"), "A", e))
    add("ip4-three-labels", query("2.0.192.mixed.test", "A", e))
    add("ip4-five-labels", query("1.1.2.0.192.mixed.test", "A", e))
    add("ip6-listed", query(ip6("2001:db8::1", "mixed.test"), "TXT", e))
    add("ip6-cidr", query(ip6("2001:db8::99", "mixed.test"), "A", e))
    add("ip6-short", query("1.0.0.2.mixed.test", "A", e))
    add("name-listed", query("spam.example.mixed.test", "TXT", e))
    add("name-wild", query("a.b.wild.example.mixed.test", "A", e))
    add("name-wild-excluded", query("ok.wild.example.mixed.test", "A", e))
    add("name-both", query("both.example.mixed.test", "TXT", e))
    add("name-both-below", query("x.both.example.mixed.test", "A", e))
    add("name-upper", query("SPAM.Example.MIXED.test", "A", e))
    add("email-plain", query("user.mail.example.mixed.test", "TXT", e))
    add("email-dot-in-label", query(["first.last+tag", "gmail", "com", "mixed", "test"], "A", e))
    add("email-sha1", query(sha1("hello") + ".mixed.test", "TXT", e))
    add("email-sha1-email-label", query(sha1("hello") + "._email.mixed.test", "A", e))
    add("email-md5", query(md5("user@mail.example") + ".mixed.test", "A", e))
    add("email-sha256-cut", query(hashlib.sha256(b"user@mail.example").hexdigest()[:40] + ".mixed.test", "A", e))
    add("test-point-ip", query("2.0.0.127.mixed.test", "TXT", e))
    add("test-point-name", query("test.mixed.test", "A", e))
    add("apex-soa", query("mixed.test", "SOA", e))
    add("apex-ns", query("mixed.test", "NS", e))
    add("apex-any", query("mixed.test", "ANY", e))
    add("apex-aaaa", query("mixed.test", "AAAA"))
    # rbl.test: rbldnsd datasets under one zone, and a zone below it.
    add("ip4set-listed", query(ip4("10.2.3.4", "rbl.test"), "TXT", e))
    add("ip4set-excluded", query(ip4("10.1.1.1", "rbl.test"), "A", e))
    add("ip4set-short-range", query(ip4("172.20.1.1", "rbl.test"), "A", e))
    add("ip6trie-listed", query(ip6("2001:db8:1::5", "rbl.test"), "TXT", e))
    add("ip6trie-mapped", query(ip6("::ffff:10.9.9.9", "rbl.test"), "A", e))
    add("dnset-listed", query("x.spam.test.rbl.test", "TXT", e))
    add("dnset-excluded", query("ok.spam.test.rbl.test", "A", e))
    add("dnset-deep", query("a.b.deep.test.rbl.test", "A", e))
    add("generic-apex-txt", query("rbl.test", "TXT", e))
    add("generic-a", query("www.rbl.test", "A", e))
    add("generic-mx", query("mx.rbl.test", "MX", e))
    add("sub-zone", query(ip4("192.0.2.2", "sub.rbl.test"), "A", e))
    add("combined-ip", query(ip4("192.0.2.1", "combo.test"), "TXT", e))
    add("combined-name", query("example.org.dn.combo.test", "A", e))
    add("combined-name-sub", query("example.org.sub.dn.combo.test", "TXT", e))
    add("acl-zone", query(ip4("192.0.2.3", "acl.test"), "A", e))
    # Outside every zone, and the odd questions.
    add("root-soa", query(".", "SOA", e))
    add("root-any-noedns", query(".", "ANY"))
    add("other-zone", query("example.com", "A", e))
    add("chaos-version", query("version.bind", "TXT", None, qclass=3))
    add("class-any", query(ip4("192.0.2.1", "mixed.test"), "A", None, qclass=255))
    add("axfr", query("mixed.test", "AXFR"))
    add("ixfr", query("mixed.test", "IXFR", e))
    add("type-caa", query("mixed.test", "CAA", e))
    add("recursion-desired", query(ip4("192.0.2.1", "mixed.test"), "A", e, flags=0x0100))
    add("checking-disabled", query(ip4("192.0.2.1", "mixed.test"), "A", e, flags=0x0010))
    # EDNS variants.
    add("edns-512", query(ip4("192.0.2.1", "mixed.test"), "ANY", opt(512)))
    add("edns-0", query(ip4("192.0.2.1", "mixed.test"), "TXT", opt(0)))
    add("edns-65535-do", query(ip4("192.0.2.1", "mixed.test"), "TXT", opt(65535, do=True)))
    add("edns-badvers", query(ip4("192.0.2.1", "mixed.test"), "A", opt(1232, version=1)))
    add("edns-cookie", query(ip4("192.0.2.1", "mixed.test"), "A", opt(options=struct.pack(">HH", 10, 8) + b"\x01" * 8)))
    add("edns-ecs", query(ip4("192.0.2.1", "mixed.test"), "A", opt(options=struct.pack(">HHHBB", 8, 7, 1, 24, 0) + b"\xc0\x00\x02")))
    add("edns-bad-length", query(ip4("192.0.2.1", "mixed.test"), "A", opt(options=b"")[:-2] + b"\xff\xff"))
    add("edns-two-opt", header(counts=(1, 0, 0, 2)) + wire_name("mixed.test") + struct.pack(">HH", 1, 1) + opt() + opt())
    # Malformed (tests/garbage.rs).
    add("short-5", b"\0" * 5)
    add("header-only", header(counts=(0, 0, 0, 0)))
    add("response-bit", query(ip4("192.0.2.1", "mixed.test"), "A", flags=0x8000))
    add("opcode-notify", query("mixed.test", "SOA", flags=0x2000))
    add("opcode-update", header(flags=0x2800, counts=(1, 0, 0, 0)) + wire_name("mixed.test") + struct.pack(">HH", 6, 1))
    add("two-questions", header(counts=(2, 0, 0, 0)) + (wire_name("mixed.test") + struct.pack(">HH", 1, 1)) * 2)
    add("broken-question", header(counts=(1, 0, 0, 0)) + bytes([5]) + b"ab")
    add("pointer-self", header() + bytes([0xC0, 12, 0, 1, 0, 1]))
    add("pointer-mutual", header() + bytes([1, ord("a"), 0xC0, 16, 0xC0, 12, 0, 1, 0, 1]))
    add("pointer-outside", header() + bytes([0xC3, 0xFF, 0, 1, 0, 1]))
    add("pointer-to-name", header() + wire_name("mixed.test")[:0] + bytes([1, ord("x"), 0xC0, 18]) + wire_name("mixed.test") + struct.pack(">HH", 1, 1))
    add("labels-127", header() + b"\x01a" * 127 + b"\0" + struct.pack(">HH", 1, 1))
    add("labels-200", header() + b"\x01a" * 200 + b"\0" + struct.pack(">HH", 1, 1))
    add("label-64", header() + bytes([64]) + b"a" * 64 + b"\0" + struct.pack(">HH", 1, 1))
    add("label-63-x4", header() + (bytes([63]) + b"b" * 63) * 4 + b"\0" + struct.pack(">HH", 1, 1))
    add("trailing-byte", query("mixed.test", "A") + b"\0")
    add("answer-count", header(counts=(1, 1, 0, 0)) + wire_name("mixed.test") + struct.pack(">HH", 1, 1))
    add("truncated-type", query("mixed.test", "A")[:-3])
    return q


# --- Data files --------------------------------------------------------------------------

# `("name.kind", "text")` pairs in the tests, as written in Rust (plain "…" literals).
PAIR = re.compile(r'\(\s*"([^"\\]*\.(?:' + "|".join(KINDS) + r')(?:\.gz)?)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*,?\s*\)', re.S)


def rust_string(literal):
    """The value of the inside of a Rust "…" literal (the escapes tests use)."""
    literal = re.sub(r"\\\n\s*", "", literal)
    out, i = [], 0
    while i < len(literal):
        c = literal[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = literal[i + 1]
        if n == "u":
            end = literal.index("}", i)
            out.append(chr(int(literal[i + 3:end], 16)))
            i = end + 1
            continue
        if n == "x":
            out.append(chr(int(literal[i + 2:i + 4], 16)))
            i += 4
            continue
        out.append({"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}[n])
        i += 2
    return "".join(out)


def data_files():
    """(name, kind, text): the shipped zones, the tests' zone texts, the fuzz zones."""
    files = []
    for path in sorted((ROOT / "zones").rglob("*")):
        if path.is_file() and path.name != "reasons.conf":
            kind = path.suffix.lstrip(".") if path.suffix.lstrip(".") in KINDS else "zone"
            files.append(("shipped-" + path.stem.replace(".", "-"), kind, path.read_text()))
    seen = set()
    for source in sorted((ROOT / "tests").glob("*.rs")) + [ROOT / "src" / "fuzzing.rs"]:
        for file_name, literal in PAIR.findall(source.read_text()):
            text = rust_string(literal)
            kind = file_name.removesuffix(".gz").rsplit(".", 1)[1]
            if "ward-fault-injection" in file_name or (kind, text) in seen or len(text) < 4:
                continue
            seen.add((kind, text))
            files.append((f"{source.stem}-{kind}-{len(files)}", kind, text))
    # The parser tests' tables of bad lines, `(Kind, "text", line, column, …)` and (for
    # ward files) `("text", line, column, …)`: one file of all of them per kind.
    parser = (ROOT / "tests" / "parser.rs").read_text()
    rows = {}
    for literal_kind, literal in KIND_ROW.findall(parser):
        rows.setdefault(literal_kind, []).append(rust_string(literal))
    for literal in WARD_ROW.findall(parser):
        rows.setdefault("Ward", []).append(rust_string(literal))
    for literal_kind, texts in sorted(rows.items()):
        kind = "zone" if literal_kind == "Ward" else literal_kind.lower()
        files.append((f"parser-bad-lines-{kind}", kind, "\n".join(texts) + "\n"))
    return files


KIND_NAMES = "Ward|Ip4Set|Ip4Tset|Ip4Trie|Ip6Tset|Ip6Trie|Dnset|Combined|Generic|Acl"
KIND_ROW = re.compile(r'\(\s*(?:DatasetKind::)?(' + KIND_NAMES + r'),\s*"((?:[^"\\]|\\.)*)"', re.S)
WARD_ROW = re.compile(r'\(\s*"((?:[^"\\]|\\.)*)",\s*\d+,\s*\d+,', re.S)


def extra_files():
    """Hand-written corners of the formats (see README's Bad input)."""
    long_txt = ":127.0.0.2:" + "x" * 4100 + "\n"
    return [
        ("crlf-bom", "zone", "\ufeff$TTL 60\r\n192.0.2.1 spam\r\n!192.0.2.1\r\n"),
        ("specials", "zone", "$SOA 60 ns. host. 1 2 3 4 5\n$NS 60 ns1. ns2.\n$TTL 1w2d\n$TIMESTAMP 2020-01-01T00:00:00Z 2099-01-01\n$MAXRANGE4 /16\n$0 zero\n$REASON own 127.0.0.99 \"own $0 $\"\n192.0.2.1 own\n"),
        ("expires-attrs", "zone", "192.0.2.1 spam expires=2001-01-01 added=2026-11-20 by=ops ticket=1\n192.0.2.2 hacked expires=2099-12-31T23:59:59+02:00\n"),
        ("unknown-reason", "zone", "192.0.2.1 compromized-host\n"),
        ("hashes", "zone", "md5:5d41402abc4b2a76b9719d911017c592 spam\nsha1:aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d\nsha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 spam\n"),
        ("ip4-forms", "ip4set", ":127.0.0.2:$ listed\n10\n10.1\n10.1.2\n10.1.2.3\n10.0.0.0/8\n10.1.0.0-10.2.255.255\n172.16-31\n0/0\n255.255.255.255/32\n"),
        ("ip4tset-forms", "ip4tset", "192.0.2.1\n192.0.2.2 :3:x\n"),
        ("ip4trie-forms", "ip4trie", "192.0.2.0/24 :2:a\n192.0.2.128/25 :3:b\n!192.0.2.200\n0.0.0.0/0\n"),
        ("ip6-forms", "ip6trie", "::/0 :2:all\n2001:db8::/32\n::1\n::ffff:192.0.2.1/128\n2001:db8::1-2001:db8::ff\nfe80::1%eth0\n"),
        ("ip6tset-forms", "ip6tset", "2001:db8::1\n2001:db8::/64\n2001:db8:0:0:1::\n"),
        ("dnset-forms", "dnset", ":2:$\nexample.com\n.example.net\n*.example.org\n!ok.example.org\n\\052.weird\nxn--bcher-kva.example\n"),
        ("generic-forms", "generic", "@ SOA ns. host. 1 2 3 4 5\n@ NS ns1.\n@ TXT \"a\" \"b\"\nw A 192.0.2.1\nw AAAA 2001:db8::1\nm MX 10 mail\nc CNAME w\n* TXT wild\n"),
        ("combined-forms", "combined", "$TTL 60\n$DATASET ip4trie ip @\n192.0.2.0/24 :2:a\n$DATASET ip6trie v6\n2001:db8::/32\n$DATASET dnset dn\nexample.com :3:b\n$DATASET generic gen\n@ TXT x\n$DATASET acl @\n127.0.0.1 :refuse\n"),
        ("acl-forms", "acl", "127.0.0.1 :refuse\n127.0.0.2 :ignore\n10.0.0.0/8 :empty\n::1 :pass\n192.0.2.0/24 :127.0.0.9:go away\n!127.0.0.3\n"),
        ("long-txt", "ip4set", long_txt + "192.0.2.1\n"),
        ("long-line", "zone", "192.0.2.1 " + "y" * 17000 + "\n192.0.2.2 spam\n"),
        ("garbage", "zone", "\0\xff\xfe not a line\n:::\n$\n!\n*.\n.\n@\n"),
    ]


def gzip_member(data, mtime=0):
    return gzip.compress(data, mtime=mtime)


def main():
    for name, packet in queries():
        write("query_parse", name, packet)
        write("udp_answer", name, b"\0" + packet)
        frame = struct.pack(">H", len(packet)) + packet
        write("tcp_stream", name, frame)
    # The ACL's clients (udp_answer's first byte picks 127.0.0.1 + byte % 5).
    acl = query(ip4("192.0.2.3", "acl.test"), "A", opt())
    for who in range(1, 5):
        write("udp_answer", f"acl-client-{who}", bytes([who]) + acl)
    for name, packet in transfers():
        write("udp_answer", name, b"\0" + packet)
        write("tcp_stream", name, struct.pack(">H", len(packet)) + packet)
    # TCP streams: pipelining, zero length, lying lengths, partial frames.
    q = dict(queries())
    frame = lambda p: struct.pack(">H", len(p)) + p
    write("tcp_stream", "pipelined-3", frame(q["ip4-listed-a"]) + frame(q["name-listed"]) + frame(q["apex-any"]))
    write("tcp_stream", "pipelined-then-zero", frame(q["ip4-listed-a"]) + b"\0\0" + frame(q["name-listed"]))
    write("tcp_stream", "zero-length", b"\0\0")
    write("tcp_stream", "lying-length", b"\x03\xe8\x01\x02\x03")
    write("tcp_stream", "half-length", b"\x00")
    write("tcp_stream", "frame-then-partial", frame(q["ip4-listed-a"]) + b"\x00\x20\x12")
    write("tcp_stream", "response-then-query", frame(q["response-bit"]) + frame(q["ip4-listed-a"]))
    write("tcp_stream", "garbage-frame-then-query", frame(b"\xff" * 40) + frame(q["ip4-listed-a"]))
    write("tcp_stream", "axfr", frame(q["axfr"]))
    write("tcp_stream", "big-any-noedns", frame(q["apex-any"]) + frame(q["root-any-noedns"]))

    for name, kind, text in data_files() + extra_files():
        data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
        which = KINDS.index(kind)
        write("zone_file", name, bytes([which]) + data)
        write("gzip", name, bytes([which, 1, 0]) + data)
    # keep_entries (`ward lookup`'s path) for a few.
    for name, kind, text in extra_files()[:6]:
        write("zone_file", name + "-keep", bytes([KINDS.index(kind) | KEEP]) + text.encode())
    # Plain-text-looking gzip (magic, then text): the decoder's first errors.
    write("zone_file", "gzip-magic-then-text", bytes([1]) + b"\x1f\x8b192.0.2.1\n")
    ip4set = b":127.0.0.2:listed $\n192.0.2.0/24\n!192.0.2.7\n10.0.0.1\n"
    write("zone_file", "gzip-ip4set", bytes([1]) + gzip_member(ip4set))
    # gzip target, raw mode (byte 1 even): what follows the magic is the fuzzer's.
    for name, data in [
        ("raw-one-member", gzip_member(ip4set)),
        ("raw-two-members", gzip_member(ip4set[:20]) + gzip_member(ip4set[20:])),
        ("raw-member-then-garbage", gzip_member(ip4set) + b"garbage\n"),
        ("raw-member-then-magic", gzip_member(ip4set) + b"\x1f\x8b"),
        ("raw-cut-trailer", gzip_member(ip4set)[:-4]),
        ("raw-cut-deflate", gzip_member(ip4set)[:20]),
        ("raw-bad-crc", gzip_member(ip4set)[:-8] + b"\0\0\0\0" + gzip_member(ip4set)[-4:]),
        ("raw-header-flags", b"\x1f\x8b\x08\x1e" + b"\0" * 6 + b"\x02\x00ab" + b"name\0" + b"comment\0" + b"\0\0" + gzip.compress(ip4set)[10:]),
        ("raw-stored-block", b"\x1f\x8b\x08\x00\0\0\0\0\0\xff" + b"\x01" + struct.pack("<HH", len(ip4set), 0xFFFF ^ len(ip4set)) + ip4set),
        ("raw-bomb-ish", gzip_member(b"10.0.0.1\n" * 20000)),
        ("raw-empty", b""),
    ]:
        write("gzip", name, bytes([1, 0, 0]) + data[2:])
    write("gzip", "two-members-half", bytes([1, 1 | (32 << 1), 0]) + ip4set)
    write("gzip", "two-members-cut", bytes([6, 1 | (10 << 1), 7]) + b":2:$\n.spam.test\n!ok.spam.test\n*.deep.test\n")
    write("gzip", "one-member-cut-10", bytes([0, 1, 10]) + b"192.0.2.1 spam\n192.0.2.2 hacked\n")

    # reasons.conf.
    write("catalogue", "shipped", (ROOT / "zones" / "reasons.conf").read_bytes())
    fuzzing = (ROOT / "src" / "fuzzing.rs").read_text()
    reasons = "".join(rust_string(s) for s in re.findall(r'^\s*"(\$(?:REASON|1)[^\n]*?)",$', fuzzing, re.M))
    write("catalogue", "fuzz-reasons", reasons)
    test_reasons = sorted(set(re.findall(r'"((?:\$[0-9][^"\\]*\\n)*\$REASON (?:[^"\\]|\\.)*)"', "\n".join(p.read_text() for p in (ROOT / "tests").glob("*.rs")))))
    for i, literal in enumerate(test_reasons[:20]):
        write("catalogue", f"tests-{i}", rust_string(literal))
    for name, text in [
        ("duplicate-code", "$REASON a 127.0.0.2 \"a\"\n$REASON b 127.0.0.2 \"b\"\n"),
        ("vars", "$0 zero\n$9 nine $\n$REASON v 127.0.0.3 \"$0 $9 $ $$ $1\"\n"),
        ("bad-code", "$REASON x 300.0.0.1 \"x\"\n$REASON y 127.0.0 \"y\"\n$REASON z 127.0.0.4\n"),
        ("unterminated", "$REASON u 127.0.0.5 \"never closed\n"),
        ("long-text", "$REASON l 127.0.0.6 \"" + "t" * 4100 + "\"\n"),
        ("unknown-keyword", "$TTL 60\nREASON x 127.0.0.2 \"x\"\n$10 ten\n"),
        ("crlf-comments", "# c\r\n; c\r\n  $REASON c 127.0.0.7 \"c\"\r\n"),
    ]:
        write("catalogue", name, text)

    # ward.toml.
    readme = (ROOT / "README.md").read_text()
    for i, block in enumerate(re.findall(r"```toml\n(.*?)```", readme, re.S)):
        write("config", f"readme-{i}", block)
    config_rs = (ROOT / "src" / "config.rs").read_text()
    doc = "\n".join(l.removeprefix("//! ").removeprefix("//!") for l in config_rs.splitlines() if l.startswith("//!"))
    m = re.search(r"```toml\n(.*?)```", doc, re.S)
    if m:
        write("config", "config-rs-doc", m.group(1))
    for i, raw in enumerate(re.findall(r'FileConfig::parse\(\s*r#"(.*?)"#', config_rs, re.S)):
        write("config", f"config-rs-test-{i}", raw)
    for name, text in [
        ("position-error", "threads = 2\nlisten = 5\n"),
        ("unknown-field", "colour = \"blue\"\n"),
        ("all-fields", 'zones = "zones"\nlisten = ["127.0.0.1:53"]\nthreads = 1\nudp_payload = 512\ndefault_ttl = 60\ntest_points = false\nnormalise_addresses = false\naccept_host_bits = true\nlenient = true\npoll_interval = 0\ndebounce = 0\nwatch = false\ntcp_max_connections = 1\ntcp_idle_timeout = 1\nlog = "debug"\n'),
        ("zone-bad-net", '[zone."a"]\nallow = ["300.0.0.0/8"]\nrefused = "nope"\n'),
        ("multibyte-error", 'zones = "zönes"\nthreads = "zwei"\n'),
        ("multibyte-key", 'zönes = 1\n[zone."é"]\ndefault_ttl = -1\n'),
        ("unterminated", 'listen = ["127.0.0.1:53"\n'),
        ("inline-table", 'zone = { "a" = { test_points = true } }\n'),
        ("dup-key", "threads = 1\nthreads = 2\n"),
        ("empty", ""),
    ]:
        write("config", name, text)


if __name__ == "__main__":
    main()

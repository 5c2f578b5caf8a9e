//! Bounded closed-loop UDP DNS load generator for ward's benchmarks.
//!
//! ```text
//! loadgen run   --server 127.0.0.1:PORT --queries FILE [--seconds 5] [--max-queries N]
//!               [--window 128] [--sockets 2] [--batch 32] [--timeout-ms 1000]
//!               [--rate QPS] [--edns] [--pid SERVER_PID]
//! loadgen probe --server 127.0.0.1:PORT --name NAME [--type A] [--timeout-s 120] [--pid PID]
//! loadgen echo  --listen 127.0.0.1:PORT --seconds S
//! ```
//!
//! `run` reads a dnsperf query file (`name TYPE` per line), encodes every query once,
//! and keeps `--window` queries outstanding over `--sockets` connected UDP sockets,
//! sending and receiving with `sendmmsg`/`recvmmsg` batches. Replies are matched by id
//! and question; a query unanswered after `--timeout-ms` is lost. With `--rate` it paces
//! sends at that many queries per second instead (still never more than `--window`
//! outstanding), for latency at a given load. It stops after `--seconds` or
//! `--max-queries`, waits for the outstanding replies (at most the timeout), and prints
//! one JSON line. With `--pid` it also reports the server's CPU time over the run, from
//! /proc (utime+stime in clock ticks, and the scheduler's nanoseconds).
//!
//! `probe` sends one query every 5 ms until an answer with records arrives and prints
//! the wall-clock time of that answer (to time a server's start-up).
//!
//! `echo` is a trivial responder (returns each query with the QR bit set) to measure
//! the generator's own ceiling.
//!
//! Every mode refuses targets outside 127.0.0.0/8 and ::1, and every loop is bounded.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::exit;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ------------------------------------------------------------------ arguments

struct Opts {
    args: Vec<(String, Option<String>)>,
}

impl Opts {
    fn parse(raw: &[String]) -> Opts {
        let mut args = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let a = &raw[i];
            if !a.starts_with("--") {
                die(&format!("unexpected argument {a}"));
            }
            let flag = matches!(a.as_str(), "--edns" | "--spin");
            if flag {
                args.push((a.clone(), None));
                i += 1;
            } else {
                let v = raw
                    .get(i + 1)
                    .unwrap_or_else(|| die(&format!("{a} needs a value")));
                args.push((a.clone(), Some(v.clone())));
                i += 2;
            }
        }
        Opts { args }
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }
    fn flag(&self, name: &str) -> bool {
        self.args.iter().any(|(k, _)| k == name)
    }
    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        match self.get(name) {
            None => default,
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| die(&format!("bad value for {name}: {v}"))),
        }
    }
    fn check_known(&self, known: &[&str]) {
        for (k, _) in &self.args {
            if !known.contains(&k.as_str()) {
                die(&format!("unknown option {k}"));
            }
        }
    }
}

fn die(msg: &str) -> ! {
    eprintln!("loadgen: {msg}");
    exit(2)
}

fn loopback_addr(s: &str) -> SocketAddr {
    let addr: SocketAddr = s
        .parse()
        .unwrap_or_else(|_| die(&format!("not an address:port: {s}")));
    let ok = match addr.ip() {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => v6.is_loopback(),
    };
    if !ok {
        die(&format!(
            "refusing {addr}: only 127.0.0.0/8 and ::1 may be targets"
        ));
    }
    addr
}

fn local_for(addr: &SocketAddr) -> &'static str {
    if addr.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    }
}

// ------------------------------------------------------------------ DNS encoding

fn qtype_code(t: &str) -> Option<u16> {
    Some(match t.to_ascii_uppercase().as_str() {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "PTR" => 12,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        "SRV" => 33,
        "ANY" => 255,
        other => other.strip_prefix("TYPE")?.parse().ok()?,
    })
}

/// A full query packet with id 0; returns the packet and the question's length.
fn encode_query(name: &str, qtype: u16, edns: bool) -> Option<(Vec<u8>, usize)> {
    let mut p = Vec::with_capacity(64);
    p.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, if edns { 1 } else { 0 }]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    if p.len() - 12 > 255 {
        return None;
    }
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    let qlen = p.len() - 12;
    if edns {
        // OPT: root name, type 41, payload 1232, no flags
        p.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    Some((p, qlen))
}

struct Queries {
    buf: Vec<u8>,
    /// (offset, packet length, question length)
    idx: Vec<(u32, u16, u16)>,
}

impl Queries {
    fn load(path: &str, edns: bool) -> Queries {
        let text = fs::read_to_string(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
        let mut q = Queries {
            buf: Vec::new(),
            idx: Vec::new(),
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut it = line.split_whitespace();
            let name = it.next().unwrap();
            let t = it.next().unwrap_or("A");
            let code = qtype_code(t)
                .unwrap_or_else(|| die(&format!("{path}:{}: unknown type {t}", n + 1)));
            let Some((p, qlen)) = encode_query(name, code, edns) else {
                die(&format!("{path}:{}: bad name {name}", n + 1));
            };
            q.idx
                .push((q.buf.len() as u32, p.len() as u16, qlen as u16));
            q.buf.extend_from_slice(&p);
        }
        if q.idx.is_empty() {
            die(&format!("{path}: no queries"));
        }
        q
    }
    fn packet(&self, i: usize) -> &[u8] {
        let (o, l, _) = self.idx[i];
        &self.buf[o as usize..o as usize + l as usize]
    }
    fn question(&self, i: usize) -> &[u8] {
        let (o, _, ql) = self.idx[i];
        &self.buf[o as usize + 12..o as usize + 12 + ql as usize]
    }
}

// ------------------------------------------------------------------ histogram

/// Log-linear histogram of nanoseconds: exact below 2048 ns, then 1024 buckets per
/// power of two (0.1 % precision).
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
}

const SUB_BITS: u32 = 10;
const SUB: u64 = 1 << SUB_BITS;

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: vec![0; (2 * SUB + 40 * SUB) as usize],
            total: 0,
            sum: 0,
            max: 0,
        }
    }
    fn index(v: u64) -> usize {
        if v < 2 * SUB {
            return v as usize;
        }
        let bits = 64 - v.leading_zeros(); // v in [2^(bits-1), 2^bits)
        let shift = bits - (SUB_BITS + 1);
        let mant = (v >> shift) - SUB; // 0..SUB
        (2 * SUB + (shift as u64 - 1) * SUB + mant) as usize
    }
    fn value(i: usize) -> u64 {
        let i = i as u64;
        if i < 2 * SUB {
            return i;
        }
        let shift = (i - 2 * SUB) / SUB + 1;
        let mant = (i - 2 * SUB) % SUB + SUB;
        (mant << shift) + (1 << shift) / 2
    }
    fn record(&mut self, v: u64) {
        let i = Self::index(v).min(self.counts.len() - 1);
        self.counts[i] += 1;
        self.total += 1;
        self.sum += v as u128;
        self.max = self.max.max(v);
    }
    fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }
}

// ------------------------------------------------------------------ /proc

/// (utime, stime) of a process in clock ticks: user space vs kernel (syscalls and the
/// softirq work done in its context).
fn proc_ticks(pid: u32) -> Option<(u64, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // fields after the command: state is field 3, utime 14, stime 15 (1-based)
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime, stime))
}

/// Sum of the scheduler's run time of every thread of a process, in nanoseconds.
fn proc_sched_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    for e in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let e = e.ok()?;
        if let Ok(s) = fs::read_to_string(e.path().join("schedstat")) {
            total += s.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

fn clk_tck() -> u64 {
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

// ------------------------------------------------------------------ sockets

fn set_bufs(sock: &UdpSocket, bytes: i32) {
    let fd = sock.as_raw_fd();
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        let v = bytes;
        let p = &v as *const i32 as *const libc::c_void;
        let l = std::mem::size_of::<i32>() as libc::socklen_t;
        unsafe {
            if libc::setsockopt(fd, libc::SOL_SOCKET, force, p, l) != 0 {
                libc::setsockopt(fd, libc::SOL_SOCKET, plain, p, l);
            }
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Slot {
    sent_ns: u64,
    query: u32,
    gen: u32,
    active: bool,
}

struct Conn {
    sock: UdpSocket,
    slots: Vec<Slot>,
    free: VecDeque<u16>,
    /// (id, generation) in send order, for timeouts
    fifo: VecDeque<(u16, u32)>,
    outstanding: usize,
}

impl Conn {
    fn new(server: SocketAddr, bufsize: i32) -> Conn {
        let sock =
            UdpSocket::bind(local_for(&server)).unwrap_or_else(|e| die(&format!("bind: {e}")));
        sock.connect(server)
            .unwrap_or_else(|e| die(&format!("connect: {e}")));
        sock.set_nonblocking(true).unwrap();
        set_bufs(&sock, bufsize);
        Conn {
            sock,
            slots: vec![Slot::default(); 65536],
            free: (0..=65535u16).collect(),
            fifo: VecDeque::new(),
            outstanding: 0,
        }
    }
}

const RBUF: usize = 2048;

struct Batch {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    sbufs: Vec<u8>,
    ids: Vec<[u8; 2]>,
    rbufs: Vec<u8>,
    riovs: Vec<libc::iovec>,
    rhdrs: Vec<libc::mmsghdr>,
}

impl Batch {
    fn new(n: usize) -> Batch {
        let zero_iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        let mut b = Batch {
            hdrs: (0..n).map(|_| unsafe { std::mem::zeroed() }).collect(),
            iovs: vec![zero_iov; n],
            sbufs: vec![0u8; n * RBUF],
            ids: vec![[0, 0]; n],
            rbufs: vec![0u8; n * RBUF],
            riovs: vec![zero_iov; n],
            rhdrs: (0..n).map(|_| unsafe { std::mem::zeroed() }).collect(),
        };
        for i in 0..n {
            b.riovs[i] = libc::iovec {
                iov_base: b.rbufs[i * RBUF..].as_mut_ptr() as *mut libc::c_void,
                iov_len: RBUF,
            };
        }
        for i in 0..n {
            b.rhdrs[i].msg_hdr.msg_iov = &mut b.riovs[i];
            b.rhdrs[i].msg_hdr.msg_iovlen = 1;
        }
        b
    }
}

fn now_ns(t0: Instant) -> u64 {
    t0.elapsed().as_nanos() as u64
}

const RCODES: [&str; 16] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
];

// ------------------------------------------------------------------ run

fn cmd_run(o: &Opts) {
    o.check_known(&[
        "--server",
        "--queries",
        "--seconds",
        "--max-queries",
        "--window",
        "--sockets",
        "--batch",
        "--timeout-ms",
        "--rate",
        "--edns",
        "--pid",
        "--bufsize",
        "--spin",
    ]);
    let server = loopback_addr(
        o.get("--server")
            .unwrap_or_else(|| die("--server is required")),
    );
    let qfile = o
        .get("--queries")
        .unwrap_or_else(|| die("--queries is required"));
    let seconds: f64 = o.num("--seconds", 5.0);
    if !(seconds > 0.0 && seconds <= 3600.0) {
        die("--seconds must be in (0, 3600]");
    }
    let max_queries: u64 = o.num("--max-queries", u64::MAX);
    let window: usize = o.num("--window", 128);
    let nsock: usize = o.num("--sockets", 2);
    let batch: usize = o.num("--batch", 32);
    let timeout_ms: u64 = o.num("--timeout-ms", 1000);
    let rate: f64 = o.num("--rate", 0.0);
    let edns = o.flag("--edns");
    let spin = o.flag("--spin");
    let bufsize: i32 = o.num("--bufsize", 4 << 20);
    let pid: Option<u32> = o
        .get("--pid")
        .map(|v| v.parse().unwrap_or_else(|_| die("bad --pid")));
    if window == 0 || nsock == 0 || batch == 0 || batch > 1024 || nsock > 64 {
        die("--window, --sockets (<=64), --batch (<=1024) must be positive");
    }
    if window > nsock * 60000 {
        die("--window too large for the sockets' id space");
    }

    let queries = Queries::load(qfile, edns);
    let nq = queries.idx.len();
    let mut conns: Vec<Conn> = (0..nsock).map(|_| Conn::new(server, bufsize)).collect();
    let per_sock = window.div_ceil(nsock);
    let mut b = Batch::new(batch);
    let mut hist = Histogram::new();
    let mut rcodes = [0u64; 16];
    let (mut answers, mut nodata, mut truncated, mut mismatched, mut lost) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut sent, mut received, mut received_in_window) = (0u64, 0u64, 0u64);
    let mut send_errors = 0u64;
    let mut window_full_waits = 0u64;
    let mut next_query = 0usize;
    let timeout_ns = timeout_ms * 1_000_000;
    let run_ns = (seconds * 1e9) as u64;

    let tck = clk_tck();
    let cpu0 = pid.and_then(proc_ticks);
    let sched0 = pid.and_then(proc_sched_ns);
    let t0 = Instant::now();
    let mut stop_ns: Option<u64> = None;
    let mut last_timeout_check = 0u64;
    let mut rr = 0usize;

    loop {
        let now = now_ns(t0);
        if stop_ns.is_none() && (now >= run_ns || sent >= max_queries) {
            stop_ns = Some(now);
        }
        let outstanding: usize = conns.iter().map(|c| c.outstanding).sum();
        if let Some(s) = stop_ns {
            // drain: wait for replies, at most the timeout (and never past the hard limit)
            if outstanding == 0 || now > s + timeout_ns || now > run_ns + timeout_ns + 1_000_000_000
            {
                break;
            }
        }
        let mut progressed = false;

        // ---- send
        if stop_ns.is_none() {
            let mut allowance = (window - outstanding.min(window)) as u64;
            if rate > 0.0 {
                let due = (rate * now as f64 / 1e9) as u64;
                allowance = allowance.min(due.saturating_sub(sent));
            } else if allowance == 0 {
                window_full_waits += 1;
            }
            allowance = allowance.min(max_queries - sent);
            for k in 0..nsock {
                if allowance == 0 {
                    break;
                }
                let ci = (rr + k) % nsock;
                let c = &mut conns[ci];
                let room = per_sock
                    .saturating_sub(c.outstanding)
                    .min(batch)
                    .min(allowance as usize);
                if room == 0 {
                    continue;
                }
                let stamp = now_ns(t0);
                let mut n = 0;
                while n < room {
                    let Some(id) = c.free.pop_front() else { break };
                    let qi = (next_query + n) % nq;
                    let pkt = queries.packet(qi);
                    b.ids[n] = id.to_be_bytes();
                    // one iovec per message: the query copied into the batch's buffer
                    let sb = &mut b.sbufs[n * RBUF..n * RBUF + pkt.len()];
                    sb.copy_from_slice(pkt);
                    sb[0..2].copy_from_slice(&b.ids[n]);
                    b.iovs[n] = libc::iovec {
                        iov_base: sb.as_mut_ptr() as *mut libc::c_void,
                        iov_len: pkt.len(),
                    };
                    let h = &mut b.hdrs[n].msg_hdr;
                    h.msg_name = std::ptr::null_mut();
                    h.msg_namelen = 0;
                    h.msg_iov = &mut b.iovs[n];
                    h.msg_iovlen = 1;
                    h.msg_control = std::ptr::null_mut();
                    h.msg_controllen = 0;
                    h.msg_flags = 0;
                    let s = &mut c.slots[id as usize];
                    s.sent_ns = stamp;
                    s.query = qi as u32;
                    s.gen = s.gen.wrapping_add(1);
                    s.active = true;
                    n += 1;
                }
                if n == 0 {
                    continue;
                }
                let r = unsafe {
                    libc::sendmmsg(
                        c.sock.as_raw_fd(),
                        b.hdrs.as_mut_ptr(),
                        n as libc::c_uint,
                        libc::MSG_DONTWAIT,
                    )
                };
                let done = if r < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::WouldBlock {
                        send_errors += 1;
                    }
                    0
                } else {
                    r as usize
                };
                // messages not sent: give their ids back (front, in order)
                for j in (done..n).rev() {
                    let id = u16::from_be_bytes(b.ids[j]);
                    c.slots[id as usize].active = false;
                    c.free.push_front(id);
                }
                for j in 0..done {
                    let id = u16::from_be_bytes(b.ids[j]);
                    c.fifo.push_back((id, c.slots[id as usize].gen));
                }
                c.outstanding += done;
                sent += done as u64;
                next_query = (next_query + done) % nq;
                allowance -= done as u64;
                if done > 0 {
                    progressed = true;
                }
            }
            rr = (rr + 1) % nsock;
        }

        // ---- receive
        for c in conns.iter_mut() {
            if c.outstanding == 0 {
                continue;
            }
            loop {
                for h in b.rhdrs.iter_mut() {
                    h.msg_len = 0;
                    h.msg_hdr.msg_flags = 0;
                }
                let r = unsafe {
                    libc::recvmmsg(
                        c.sock.as_raw_fd(),
                        b.rhdrs.as_mut_ptr(),
                        batch as libc::c_uint,
                        libc::MSG_DONTWAIT,
                        std::ptr::null_mut(),
                    )
                };
                if r <= 0 {
                    break;
                }
                let stamp = now_ns(t0);
                progressed = true;
                for j in 0..r as usize {
                    let len = (b.rhdrs[j].msg_len as usize).min(RBUF);
                    let p = &b.rbufs[j * RBUF..j * RBUF + len];
                    if len < 12 {
                        mismatched += 1;
                        continue;
                    }
                    let id = u16::from_be_bytes([p[0], p[1]]);
                    let slot = c.slots[id as usize];
                    let q = queries.question(slot.query as usize);
                    if !slot.active
                        || p[2] & 0x80 == 0
                        || len < 12 + q.len()
                        || &p[12..12 + q.len()] != q
                    {
                        mismatched += 1;
                        continue;
                    }
                    c.slots[id as usize].active = false;
                    c.free.push_back(id);
                    c.outstanding -= 1;
                    received += 1;
                    if stop_ns.is_none() {
                        received_in_window += 1;
                    }
                    hist.record(stamp.saturating_sub(slot.sent_ns));
                    let rcode = (p[3] & 0x0f) as usize;
                    rcodes[rcode] += 1;
                    if p[2] & 0x02 != 0 {
                        truncated += 1;
                    }
                    let ancount = u16::from_be_bytes([p[6], p[7]]);
                    if rcode == 0 {
                        if ancount > 0 {
                            answers += 1
                        } else {
                            nodata += 1
                        }
                    }
                }
                if (r as usize) < batch {
                    break;
                }
            }
        }

        // ---- timeouts (every millisecond)
        let now = now_ns(t0);
        if now - last_timeout_check > 1_000_000 {
            last_timeout_check = now;
            for c in conns.iter_mut() {
                while let Some(&(id, gen)) = c.fifo.front() {
                    let s = c.slots[id as usize];
                    if !s.active || s.gen != gen {
                        c.fifo.pop_front();
                    } else if now.saturating_sub(s.sent_ns) > timeout_ns {
                        c.fifo.pop_front();
                        c.slots[id as usize].active = false;
                        c.free.push_back(id);
                        c.outstanding -= 1;
                        lost += 1;
                    } else {
                        break;
                    }
                }
            }
        }

        // ---- wait when there was nothing to do
        if !progressed && !spin {
            let wait_ns: i64 = if rate > 0.0 && stop_ns.is_none() {
                let next_due = ((sent + 1) as f64 / rate * 1e9) as i64;
                (next_due - now_ns(t0) as i64).clamp(0, 1_000_000)
            } else {
                1_000_000
            };
            if wait_ns > 0 {
                let mut fds: Vec<libc::pollfd> = conns
                    .iter()
                    .map(|c| libc::pollfd {
                        fd: c.sock.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    })
                    .collect();
                let ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: wait_ns as libc::c_long,
                };
                unsafe {
                    libc::ppoll(
                        fds.as_mut_ptr(),
                        fds.len() as libc::nfds_t,
                        &ts,
                        std::ptr::null(),
                    );
                }
            }
        }
    }

    let end = now_ns(t0);
    let stop = stop_ns.unwrap_or(end);
    let outstanding: u64 = conns.iter().map(|c| c.outstanding as u64).sum();
    lost += outstanding;
    let cpu1 = pid.and_then(proc_ticks);
    let sched1 = pid.and_then(proc_sched_ns);
    let secs = stop as f64 / 1e9;
    let self_cpu = {
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    };
    let qps = received_in_window as f64 / secs;
    let us = |ns: u64| ns as f64 / 1000.0;
    let mut rc = String::new();
    for (i, n) in rcodes.iter().enumerate() {
        if *n > 0 {
            if !rc.is_empty() {
                rc.push(',');
            }
            rc.push_str(&format!("\"{}\":{}", RCODES[i], n));
        }
    }
    let mut cpu = String::new();
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        let user_ticks = b.0 - a.0;
        let ticks = user_ticks + (b.1 - a.1);
        let cpu_s = ticks as f64 / tck as f64;
        cpu.push_str(&format!(
            ",\"server_cpu_ticks\":{ticks},\"server_user_ticks\":{user_ticks},\"clk_tck\":{tck},\"server_cpu_s\":{cpu_s:.3},\"q_per_cpu_s\":{:.0}",
            if cpu_s > 0.0 { received as f64 / cpu_s } else { 0.0 }
        ));
    }
    if let (Some(a), Some(b)) = (sched0, sched1) {
        let ns = b - a;
        cpu.push_str(&format!(
            ",\"server_sched_s\":{:.4},\"q_per_sched_s\":{:.0}",
            ns as f64 / 1e9,
            if ns > 0 {
                received as f64 / (ns as f64 / 1e9)
            } else {
                0.0
            }
        ));
    }
    println!(
        "{{\"mode\":\"{}\",\"server\":\"{server}\",\"window\":{window},\"sockets\":{nsock},\"batch\":{batch},\
\"rate\":{rate},\"seconds\":{secs:.3},\"drain_seconds\":{:.3},\"queries_in_file\":{nq},\"sent\":{sent},\
\"received\":{received},\"received_in_window\":{received_in_window},\"lost\":{lost},\"mismatched\":{mismatched},\
\"send_errors\":{send_errors},\"qps\":{qps:.0},\"answers\":{answers},\"nodata\":{nodata},\"truncated\":{truncated},\
\"rcodes\":{{{rc}}},\"lat_us\":{{\"p50\":{:.1},\"p90\":{:.1},\"p99\":{:.1},\"p999\":{:.1},\"max\":{:.1},\"mean\":{:.1}}},\
\"window_full_waits\":{window_full_waits},\"loadgen_cpu_s\":{self_cpu:.3}{cpu}}}",
        if rate > 0.0 { "rate" } else { "closed" },
        (end - stop) as f64 / 1e9,
        us(hist.quantile(0.50)),
        us(hist.quantile(0.90)),
        us(hist.quantile(0.99)),
        us(hist.quantile(0.999)),
        us(hist.max),
        if hist.total > 0 { us((hist.sum / hist.total as u128) as u64) } else { 0.0 },
    );
}

// ------------------------------------------------------------------ probe

fn cmd_probe(o: &Opts) {
    o.check_known(&[
        "--server",
        "--name",
        "--type",
        "--timeout-s",
        "--pid",
        "--interval-ms",
    ]);
    let server = loopback_addr(
        o.get("--server")
            .unwrap_or_else(|| die("--server is required")),
    );
    let name = o.get("--name").unwrap_or_else(|| die("--name is required"));
    let qtype = qtype_code(o.get("--type").unwrap_or("A")).unwrap_or_else(|| die("bad --type"));
    let timeout: f64 = o.num("--timeout-s", 120.0);
    let interval: u64 = o.num("--interval-ms", 5);
    let pid: Option<u32> = o
        .get("--pid")
        .map(|v| v.parse().unwrap_or_else(|_| die("bad --pid")));
    let (pkt, _) = encode_query(name, qtype, false).unwrap_or_else(|| die("bad --name"));
    let sock = UdpSocket::bind(local_for(&server)).unwrap();
    sock.connect(server).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(interval.max(1))))
        .unwrap();
    let t0 = Instant::now();
    let mut id: u16 = 1;
    let mut buf = [0u8; 4096];
    let mut tries = 0u64;
    while t0.elapsed().as_secs_f64() < timeout {
        if let Some(p) = pid {
            if fs::metadata(format!("/proc/{p}")).is_err() {
                println!("{{\"ready\":false,\"error\":\"server process {p} exited\",\"waited_s\":{:.3}}}", t0.elapsed().as_secs_f64());
                exit(1);
            }
        }
        id = id.wrapping_add(1);
        let mut q = pkt.clone();
        q[0..2].copy_from_slice(&id.to_be_bytes());
        let _ = sock.send(&q);
        tries += 1;
        let deadline = Instant::now() + Duration::from_millis(interval.max(1));
        while Instant::now() < deadline {
            match sock.recv(&mut buf) {
                Ok(n) if n >= 12 => {
                    let rid = u16::from_be_bytes([buf[0], buf[1]]);
                    let rcode = buf[3] & 0x0f;
                    let an = u16::from_be_bytes([buf[6], buf[7]]);
                    if rcode == 0 && an > 0 && rid <= id && id - rid < 1000 {
                        let epoch = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .unwrap()
                            .as_secs_f64();
                        println!(
                            "{{\"ready\":true,\"epoch\":{epoch:.6},\"waited_s\":{:.3},\"tries\":{tries}}}",
                            t0.elapsed().as_secs_f64()
                        );
                        return;
                    }
                }
                Ok(_) => {}
                // Refused (no socket bound yet: ward binds once loaded) comes back at
                // once; wait out the interval, or this loop would spin on a core the
                // loading server could use.
                Err(_) => {
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    break;
                }
            }
        }
    }
    println!(
        "{{\"ready\":false,\"error\":\"timeout\",\"waited_s\":{:.3}}}",
        t0.elapsed().as_secs_f64()
    );
    exit(1);
}

// ------------------------------------------------------------------ echo

fn cmd_echo(o: &Opts) {
    o.check_known(&["--listen", "--seconds", "--batch"]);
    let listen = loopback_addr(
        o.get("--listen")
            .unwrap_or_else(|| die("--listen is required")),
    );
    let seconds: f64 = o.num("--seconds", 10.0);
    if !(seconds > 0.0 && seconds <= 3600.0) {
        die("--seconds must be in (0, 3600]");
    }
    let batch: usize = o.num("--batch", 64);
    let sock = UdpSocket::bind(listen).unwrap_or_else(|e| die(&format!("bind {listen}: {e}")));
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    set_bufs(&sock, 4 << 20);
    let fd = sock.as_raw_fd();
    let mut bufs = vec![0u8; batch * RBUF];
    let mut names: Vec<libc::sockaddr_storage> =
        (0..batch).map(|_| unsafe { std::mem::zeroed() }).collect();
    let mut iovs: Vec<libc::iovec> = (0..batch)
        .map(|i| libc::iovec {
            iov_base: bufs[i * RBUF..].as_mut_ptr() as *mut libc::c_void,
            iov_len: RBUF,
        })
        .collect();
    let mut hdrs: Vec<libc::mmsghdr> = (0..batch).map(|_| unsafe { std::mem::zeroed() }).collect();
    let t0 = Instant::now();
    let mut answered = 0u64;
    while t0.elapsed().as_secs_f64() < seconds {
        for i in 0..batch {
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = &mut names[i] as *mut _ as *mut libc::c_void;
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            iovs[i].iov_len = RBUF;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
            hdrs[i].msg_len = 0;
        }
        // blocks for the first datagram (100 ms receive timeout), then takes what is queued
        let r = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                batch as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if r <= 0 {
            continue;
        }
        for i in 0..r as usize {
            let len = hdrs[i].msg_len as usize;
            if len >= 3 {
                bufs[i * RBUF + 2] |= 0x84; // QR, AA
            }
            iovs[i].iov_len = len;
        }
        let s = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), r as libc::c_uint, 0) };
        if s > 0 {
            answered += s as u64;
        }
    }
    println!(
        "{{\"echo_answered\":{answered},\"seconds\":{:.3}}}",
        t0.elapsed().as_secs_f64()
    );
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let Some(cmd) = argv.get(1) else {
        die("usage: loadgen run|probe|echo [options] (see the source's header)");
    };
    let o = Opts::parse(&argv[2..]);
    match cmd.as_str() {
        "run" => cmd_run(&o),
        "probe" => cmd_probe(&o),
        "echo" => cmd_echo(&o),
        "-h" | "--help" | "help" => {
            println!("usage: loadgen run|probe|echo [options]; see bench/README.md");
        }
        other => die(&format!("unknown command {other}")),
    }
}

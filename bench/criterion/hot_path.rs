//! Microbenchmarks without sockets, so regressions show up without a load generator:
//! the IP and name indexes, the parser, and one packet through the hot path
//! (parse → resolve → encode). `cargo bench`.

use std::hint::black_box;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ward::hot_path::{
    BATCH, BatchAnswerer, Datagram, DatasetKind, DnsSettings, ParseOptions, Parsed, Query, encode,
    ip4_lookup, parse, parse_bytes, resolve,
};
use ward::{LoadOptions, Loader, Snapshot};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 32) as u32
    }
}

fn ip4set(entries: usize) -> Vec<u8> {
    let mut rng = Lcg(1);
    let mut text = Vec::with_capacity(entries * 16);
    text.extend_from_slice(b":127.0.0.2:Listed: see https://bl.example/?$\n");
    for i in 0..entries {
        let a = rng.next().to_be_bytes();
        if i % 50 == 0 {
            writeln!(text, "{}.{}.{}.0/24", a[0], a[1], a[2]).unwrap();
        } else {
            writeln!(text, "{}.{}.{}.{}", a[0], a[1], a[2], a[3]).unwrap();
        }
    }
    text
}

fn snapshot(files: &[(&str, Vec<u8>)]) -> (Snapshot, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (path, contents) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    let loader = Loader {
        dir: dir.path().to_path_buf(),
        options: LoadOptions::default(),
        lenient: false,
    };
    let mut load = loader.load_all().unwrap();
    (load.take_snapshot(), dir)
}

fn query_packet(name: &str, qtype: u16) -> Vec<u8> {
    let mut packet = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.split('.') {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&1u16.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    packet
}

fn bench(c: &mut Criterion) {
    let data = ip4set(1_000_000);
    let mut rng = Lcg(1);
    let listed: Vec<String> = (0..1000)
        .map(|_| {
            let a = rng.next().to_be_bytes();
            format!("{}.{}.{}.{}.bl.example", a[3], a[2], a[1], a[0])
        })
        .collect();
    let (snap, _dir) = snapshot(&[
        ("bl.example.ip4set", data.clone()),
        (
            "dn.example.dnset",
            b":2:domain $\nspam.example\n*.wild.example\n".to_vec(),
        ),
    ]);

    let mut group = c.benchmark_group("hot_path");
    group.throughput(Throughput::Elements(1));
    let client = IpAddr::from([127, 0, 0, 1]);
    for (label, name, qtype) in [
        ("ip4_hit_a", listed[7].clone(), 1u16),
        ("ip4_hit_txt", listed[9].clone(), 16u16),
        ("ip4_miss_a", "9.9.9.9.bl.example".to_string(), 1u16),
        (
            "name_wildcard_txt",
            "a.b.wild.example.dn.example".to_string(),
            16u16,
        ),
    ] {
        let packet = query_packet(&name, qtype);
        let mut query = Query::default();
        let mut out = Vec::with_capacity(1500);
        let mut scratch = Vec::with_capacity(512);
        group.bench_function(label, |b| {
            b.iter(|| {
                assert_eq!(parse(black_box(&packet), &mut query), Parsed::Query);
                let answer = resolve(&snap, &query.question, client, 0);
                encode(&packet, &query, &answer, 1232, 1232, &mut out, &mut scratch);
                black_box(out.len())
            })
        });
    }
    group.finish();

    // Whole batches as the UDP worker answers them (parse, locate, prefetch, resolve,
    // encode), over queries spread across the index: 32 a batch, 30 % listed.
    let mut rng = Lcg(11);
    let packets: Vec<Vec<u8>> = (0..BATCH * 64)
        .map(|i| {
            let name = if i % 10 < 3 {
                listed[rng.next() as usize % listed.len()].clone()
            } else {
                let a = rng.next().to_be_bytes();
                format!("{}.{}.{}.{}.bl.example", a[3], a[2], a[1], a[0])
            };
            query_packet(&name, if i % 10 < 7 { 1 } else { 16 })
        })
        .collect();
    let peer = SocketAddr::from(([127, 0, 0, 1], 5300));
    let batches: Vec<Vec<Datagram<'_>>> = packets
        .chunks(BATCH)
        .map(|chunk| {
            chunk
                .iter()
                .map(|p| Datagram {
                    bytes: Some(p),
                    peer,
                })
                .collect()
        })
        .collect();
    let mut answerer = BatchAnswerer::new(DnsSettings::default());
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(packets.len() as u64));
    group.bench_function("udp_batches_of_32", |b| {
        b.iter(|| {
            let mut replies = 0;
            for batch in &batches {
                answerer.answer(&snap, black_box(batch), 0);
                replies += answerer.ready().len();
            }
            assert_eq!(replies, packets.len());
            replies
        })
    });
    group.finish();

    // Lookups spread over the whole index, as real traffic is: cache and TLB misses
    // included (the hot-path group above repeats one query).
    let listed = ip4_lookup(&snap, "bl.example").expect("bl.example has an IPv4 index");
    let mut rng = Lcg(7);
    let probes: Vec<u32> = (0..1 << 20).map(|_| rng.next()).collect();
    let mut group = c.benchmark_group("index");
    group.throughput(Throughput::Elements(probes.len() as u64));
    group.sample_size(20);
    group.bench_function("ip4_1m_random_lookups", |b| {
        b.iter(|| probes.iter().filter(|&&a| listed(a)).count())
    });
    group.finish();

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    group.bench_function("ip4set_1m_lines", |b| {
        b.iter(|| {
            let parsed = parse_bytes(
                &data,
                "bench.ip4set",
                DatasetKind::Ip4Set,
                &ParseOptions::default(),
            );
            black_box(parsed)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

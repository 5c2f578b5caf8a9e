//! The fuzz corpus on stable: every file under `fuzz/corpus/<target>/` (the seeds and
//! the campaign's minimised corpus) and `fuzz/regressions/<target>/` (every crash,
//! hang or blow-up the fuzzer ever found, minimised) goes through the same body the
//! fuzz target runs (`ward::fuzzing`). A panic anywhere in it — an assertion of the
//! body, or a bug that ward itself catches and counts, as the TCP path does — fails the
//! test, naming the file. See `fuzz/README.md`.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;

/// A fuzz target: its directory name under `fuzz/corpus/` and its body.
type Target = (&'static str, fn(&[u8]));

const TARGETS: &[Target] = &[
    ("query_parse", ward::fuzzing::query_parse),
    ("udp_answer", ward::fuzzing::udp_answer),
    ("tcp_stream", ward::fuzzing::tcp_stream),
    ("zone_file", ward::fuzzing::zone_file),
    ("gzip", ward::fuzzing::gzip_file),
    ("catalogue", ward::fuzzing::catalogue),
    ("config", ward::fuzzing::config),
];

/// Regressions that still fail, as (target, file name): replayed only by their own
/// `#[ignore]`d test until the fix lands in `src/`.
const OPEN: &[(&str, &str)] = &[
    ("query_parse", "edns-option-overruns-opt"),
    ("zone_file", "base-template-trailing-blank"),
    ("zone_file", "dataset-trailing-blank"),
    ("zone_file", "maxrange4-trailing-blank"),
    ("zone_file", "reason-trailing-blank"),
    ("zone_file", "timestamp-trailing-blank"),
    ("zone_file", "a-txt-colon-trailing-blank"),
    ("zone_file", "default-a-txt-colon-trailing-blank"),
    ("zone_file", "generic-txt-trailing-blank"),
    ("gzip", "timestamp-trailing-blank"),
    ("gzip", "a-txt-colon-trailing-blank"),
    ("udp_answer", "question-pointer-into-header"),
    ("udp_answer", "second-question-pointer-into-flags"),
];

thread_local! {
    /// While this thread replays an input: every panic message, even of a panic that
    /// ward catches.
    static PANICS: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Records the panics of replaying threads; the others' go to the usual hook.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let recorded = PANICS.with(|panics| match panics.borrow_mut().as_mut() {
                Some(panics) => {
                    let location = info
                        .location()
                        .map(|l| format!(" at {}:{}", l.file(), l.line()))
                        .unwrap_or_default();
                    panics.push(format!("{}{location}", panic_text(info.payload())));
                    true
                }
                None => false,
            });
            if !recorded {
                default(info);
            }
        }));
    });
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".to_string())
}

/// The panics of running `body` on `data`, caught or not; `strict`: without stepping
/// around the open findings (as the campaign does, see `ward::fuzzing::strictly`).
fn run(body: fn(&[u8]), data: &[u8], strict: bool) -> Vec<String> {
    install_hook();
    PANICS.with(|panics| *panics.borrow_mut() = Some(Vec::new()));
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        if strict {
            ward::fuzzing::strictly(|| body(data));
        } else {
            body(data);
        }
    }));
    PANICS
        .with(|panics| panics.borrow_mut().take())
        .unwrap_or_default()
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`, sorted, and
/// whether each is a regression.
fn inputs(target: &str) -> Vec<(PathBuf, bool)> {
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
            continue;
        };
        files.extend(
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.is_file())
                .map(|path| (path, kind == "regressions")),
        );
    }
    files.sort();
    files
}

fn is_open(target: &str, path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    OPEN.iter().any(|&(t, n)| t == target && n == name)
}

/// Replays every input of `target` (but the open regressions); fails listing each
/// input that panicked and how. The regressions are replayed strictly: once fixed, a
/// finding stays fixed. The corpus is replayed as the campaign ran it.
fn replay(target: &str) {
    let &(_, body) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "no corpus for {target} in {}",
        fuzz_dir().display()
    );
    let mut failures = Vec::new();
    for (path, regression) in files.iter().filter(|(path, _)| !is_open(target, path)) {
        let data = std::fs::read(path).expect("a readable corpus file");
        let panics = run(body, &data, *regression);
        if !panics.is_empty() {
            failures.push(format!("{}: {}", path.display(), panics.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {target} inputs panic:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn query_parse() {
    replay("query_parse");
}

#[test]
fn udp_answer() {
    replay("udp_answer");
}

#[test]
fn tcp_stream() {
    replay("tcp_stream");
}

#[test]
fn zone_file() {
    replay("zone_file");
}

#[test]
fn gzip() {
    replay("gzip");
}

#[test]
fn catalogue() {
    replay("catalogue");
}

#[test]
fn config() {
    replay("config");
}

/// The open regressions: each still fails until its fix lands (`cargo test --test
/// fuzz_corpus -- --ignored` shows how).
#[test]
#[ignore = "open fuzz findings, fixed in src/ later; see fuzz/README.md"]
fn open_regressions() {
    let mut failures = Vec::new();
    for &(target, name) in OPEN {
        let &(_, body) = TARGETS
            .iter()
            .find(|(t, _)| *t == target)
            .expect("a known target");
        let path = fuzz_dir().join("regressions").join(target).join(name);
        let data = std::fs::read(&path).expect("an open regression file");
        let panics = run(body, &data, true);
        if !panics.is_empty() {
            failures.push(format!("{}: {}", path.display(), panics.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every directory of inputs belongs to a target this file replays, and every target
/// has a fuzz target of the same name: nothing is silently skipped.
#[test]
fn every_corpus_has_a_target() {
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                TARGETS.iter().any(|(target, _)| *target == name),
                "fuzz/{kind}/{name} is replayed by no test"
            );
        }
    }
    for (target, _) in TARGETS {
        let source = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        assert!(source.is_file(), "no fuzz target {}", source.display());
    }
}

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

/// The panics of running `body` on `data`, caught or not.
fn run(body: fn(&[u8]), data: &[u8]) -> Vec<String> {
    install_hook();
    PANICS.with(|panics| *panics.borrow_mut() = Some(Vec::new()));
    let _ = panic::catch_unwind(AssertUnwindSafe(|| body(data)));
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

/// Replays every input of `target`, the corpus and the regressions (every finding,
/// fixed: it stays fixed); fails listing each input that panicked and how.
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
    for (path, _) in &files {
        let data = std::fs::read(path).expect("a readable corpus file");
        let panics = run(body, &data);
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

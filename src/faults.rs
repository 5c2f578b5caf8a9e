//! Test-only faults, compiled in with the `fault-injection` feature (which only the
//! test suite turns on): inputs that make ward panic where a bug would, so the tests
//! can check that a bug costs one query or one zone load and nothing more, and a zone
//! whose IXFR difference takes as long as a 10M-entry zone's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A query whose first label is this panics while it is being answered.
pub(crate) const PANIC_LABEL: &[u8] = b"ward-fault-injection-panic";

/// Panics when the query name starts with [`PANIC_LABEL`].
pub(crate) fn query(first_label: Option<&[u8]>) {
    if first_label.is_some_and(|label| label.eq_ignore_ascii_case(PANIC_LABEL)) {
        panic!("fault injection: this query panics");
    }
}

/// A data file whose name contains this panics while it is being parsed.
pub(crate) const PANIC_FILE: &str = "ward-fault-injection-panic";

/// Panics when the file's name contains [`PANIC_FILE`].
pub(crate) fn file(path: &std::path::Path) {
    if path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains(PANIC_FILE))
    {
        panic!("fault injection: this file panics its parser");
    }
}

/// A zone whose first label is this has its IXFR difference held until
/// [`release_held_differences`] (or a minute), as a 10M-entry zone's takes half a minute.
pub(crate) const SLOW_DIFFERENCE_LABEL: &[u8] = b"ward-fault-injection-slow-difference";

static DIFFERENCES_RELEASED: AtomicBool = AtomicBool::new(false);

/// Waits while the zone is the slow one and its difference is held.
pub(crate) fn difference(first_label: Option<&[u8]>) {
    if !first_label.is_some_and(|label| label.eq_ignore_ascii_case(SLOW_DIFFERENCE_LABEL)) {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !DIFFERENCES_RELEASED.load(Ordering::Relaxed) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Lets every held difference go on (for the rest of the process).
pub fn release_held_differences() {
    DIFFERENCES_RELEASED.store(true, Ordering::Relaxed);
}

//! Panics on ward's own threads: logged, but at most once every few seconds.
//!
//! A bug that a packet can trigger would otherwise let whoever sends that packet fill
//! the log (the default hook prints a message and, with `RUST_BACKTRACE`, a backtrace
//! per panic, costing more than the query). The callers catch the unwind, give up the
//! one query or file it was about and go on; this hook only decides what reaches the
//! log.

use std::sync::Mutex;
use std::sync::Once;
use std::time::{Duration, Instant};

/// Thread names whose panics are caught by their owner.
const SERVING_THREAD_PREFIX: &str = "ward-";

/// At most one log line per this period; the panics in between are counted in it.
const REPORT_EVERY: Duration = Duration::from_secs(10);

struct Reported {
    last: Option<Instant>,
    suppressed: u64,
}

static REPORTED: Mutex<Reported> = Mutex::new(Reported {
    last: None,
    suppressed: 0,
});

/// Installs the hook once per process; other threads keep the default behaviour.
pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let serving = std::thread::current()
                .name()
                .is_some_and(|name| name.starts_with(SERVING_THREAD_PREFIX));
            if !serving {
                default(info);
                return;
            }
            let Ok(mut reported) = REPORTED.lock() else {
                return;
            };
            let now = Instant::now();
            if reported
                .last
                .is_some_and(|last| now.duration_since(last) < REPORT_EVERY)
            {
                reported.suppressed += 1;
                return;
            }
            let earlier = std::mem::take(&mut reported.suppressed);
            reported.last = Some(now);
            drop(reported);
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(
                %location,
                %message,
                not_logged_since_last_report = earlier,
                thread = std::thread::current().name().unwrap_or_default(),
                "internal error (a bug: please report it); the query or file it was about is given up, everything else goes on"
            );
        }));
    });
}

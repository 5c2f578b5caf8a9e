//! File events: a recursive watch on the zones directory (the directory, not single
//! files, so renames, editors' swaps and Kubernetes' symlinked `..data` swaps all show).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::Trigger;

/// A recursive watch on the zones directory, feeding events into the reloader.
pub(super) struct DirWatch {
    _watcher: Option<notify::RecommendedWatcher>,
    root: Option<(u64, u64)>,
}

fn dir_identity(dir: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

impl DirWatch {
    pub(super) fn start(dir: &Path, events: mpsc::UnboundedSender<Trigger>) -> DirWatch {
        let handler = move |result: notify::Result<notify::Event>| {
            let trigger = match result {
                Ok(event) if event.need_rescan() => Trigger::Changed(Vec::new()),
                Ok(event) => {
                    // Opening and reading (ward's own reads among them) change nothing.
                    if matches!(
                        event.kind,
                        EventKind::Access(
                            notify::event::AccessKind::Open(_)
                                | notify::event::AccessKind::Read
                                | notify::event::AccessKind::Close(notify::event::AccessMode::Read)
                        )
                    ) {
                        return;
                    }
                    Trigger::Changed(event.paths)
                }
                // An error (queue overflow among them): look at everything.
                Err(_) => Trigger::Changed(Vec::new()),
            };
            let _ = events.send(trigger);
        };
        let watcher = notify::recommended_watcher(handler).and_then(|mut watcher| {
            watcher.watch(dir, RecursiveMode::Recursive)?;
            Ok(watcher)
        });
        match watcher {
            Ok(watcher) => DirWatch {
                _watcher: Some(watcher),
                root: dir_identity(dir),
            },
            Err(error) => {
                tracing::warn!(%error, dir = %dir.display(), "cannot watch the zones directory; relying on polling and SIGHUP");
                DirWatch {
                    _watcher: None,
                    root: dir_identity(dir),
                }
            }
        }
    }

    /// The directory now at the path is not the one being watched.
    pub(super) fn root_replaced(&self, dir: &Path) -> bool {
        dir_identity(dir) != self.root
    }
}

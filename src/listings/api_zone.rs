//! The file the admin API owns: `zones/<zone>/api.zone`. Every change rewrites it
//! whole under an exclusive `flock` (shared by the HTTP API and `ward add`/`remove`,
//! in this process and others): a temp file beside it, fsynced, renamed over it, and
//! the directory fsynced. Readers — the reload path, `ward check`, an admin's `cat` —
//! see the old file or the new one, never a mix, and a crash at any point leaves one
//! of the two. The temp and lock files are dot-files, which the zone scan ignores.
//!
//! Only this file is ever written: admins' own files in the zone are read, never
//! rewritten.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

/// The API's file in a zone directory.
pub(crate) const API_FILE: &str = "api.zone";
const LOCK_FILE: &str = ".api.zone.lock";
const TEMP_FILE: &str = ".api.zone.tmp";

/// What a new `api.zone` starts with.
pub(crate) const HEADER: &str = "\
# Written by ward's admin API (`ward add`, `ward remove`, POST /api/v1/entries).
# Do not edit by hand: the next change rewrites this file. Put your own entries in
# another file of this zone directory.
";

/// An exclusive hold on one zone's `api.zone`, for reading it and replacing it.
pub(crate) struct Locked {
    dir: PathBuf,
    /// Held open: the `flock` lasts as long as this descriptor.
    _lock: File,
}

impl Locked {
    /// Waits for the zone directory's lock (other writers finish first).
    pub(crate) fn acquire(dir: &Path) -> io::Result<Locked> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        flock(&lock, FlockOperation::LockExclusive)?;
        Ok(Locked {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.join(API_FILE)
    }

    /// The current text; empty when there is no file yet.
    pub(crate) fn read(&self) -> io::Result<String> {
        match fs::read(self.path()) {
            Ok(bytes) => String::from_utf8(bytes)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "api.zone is not UTF-8")),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            Err(error) => Err(error),
        }
    }

    /// Replaces the file with `text`: written beside it, synced, renamed into place,
    /// and the rename synced.
    pub(crate) fn replace(&self, text: &str) -> io::Result<()> {
        let temp = self.dir.join(TEMP_FILE);
        let mut file = File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, self.path())?;
        File::open(&self.dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_visible_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let locked = Locked::acquire(dir.path()).unwrap();
        assert_eq!(locked.read().unwrap(), "");
        locked.replace("192.0.2.1 spam-source\n").unwrap();
        locked.replace("192.0.2.2 spam-source\n").unwrap();
        assert_eq!(locked.read().unwrap(), "192.0.2.2 spam-source\n");
        let visible: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        assert_eq!(visible, ["api.zone"]);
    }

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = Locked::acquire(dir.path()).unwrap();
        let path = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let second = Locked::acquire(&path).unwrap();
            tx.send(second.read().unwrap()).unwrap();
        });
        first.replace("written by the first\n").unwrap();
        drop(first);
        let seen = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(seen, "written by the first\n");
        waiter.join().unwrap();
    }
}

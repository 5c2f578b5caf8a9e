//! The last serial each zone was served with, kept in the state directory so that a
//! restart never serves an older one (RFC 1982: a secondary that holds a higher serial
//! would keep its data and ignore ward until the serial caught up). A serial ward raised
//! above the one written in the data (a reload without a new serial, an expiry) exists
//! only in this file.
//!
//! Beside each serial, the fingerprint of the data it was given to: the same data
//! loaded after a restart keeps the serial, so secondaries transfer nothing.
//!
//! One line per zone, `name serial fingerprint` (the fingerprint in hex; files written
//! before it existed have none); written to a temporary file and renamed over, so a
//! crash leaves the old file or the new one.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::load::SerialFloor;

pub(crate) struct SerialFile {
    path: PathBuf,
    serials: Mutex<BTreeMap<String, SerialFloor>>,
    /// A failed write is logged once, not on every reload.
    warned: AtomicBool,
}

impl SerialFile {
    /// Reads `path` (a missing file is an empty one); the serials by zone name.
    pub(crate) fn open(path: &Path) -> (SerialFile, HashMap<String, SerialFloor>) {
        let mut serials = BTreeMap::new();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for (number, line) in text.lines().enumerate() {
                    let mut fields = line.split_whitespace();
                    let zone = fields.next();
                    let serial = fields.next().map(str::parse::<u32>);
                    let fingerprint = fields.next().map(|f| u64::from_str_radix(f, 16));
                    match (zone, serial, &fingerprint, fields.next()) {
                        (Some(zone), Some(Ok(serial)), None | Some(Ok(_)), None) => {
                            let fingerprint = fingerprint.and_then(Result::ok);
                            serials.insert(
                                zone.to_string(),
                                SerialFloor {
                                    serial,
                                    fingerprint,
                                },
                            );
                        }
                        (None, ..) => {}
                        _ => tracing::warn!(
                            "{}:{}: expected `zone serial fingerprint`; line ignored",
                            path.display(),
                            number + 1
                        ),
                    }
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(
                %error,
                "cannot read {}: serials start from the data's",
                path.display()
            ),
        }
        let floors = serials.iter().map(|(k, &v)| (k.clone(), v)).collect();
        let file = SerialFile {
            path: path.to_path_buf(),
            serials: Mutex::new(serials),
            warned: AtomicBool::new(false),
        };
        (file, floors)
    }

    /// Remembers each zone's serial, and writes the file if one changed.
    pub(crate) fn record(&self, zones: impl IntoIterator<Item = (String, SerialFloor)>) {
        let Ok(mut serials) = self.serials.lock() else {
            return;
        };
        let mut changed = false;
        for (zone, serial) in zones {
            changed |= serials.insert(zone, serial) != Some(serial);
        }
        if !changed {
            return;
        }
        let text: String = serials
            .iter()
            .map(|(zone, floor)| match floor.fingerprint {
                Some(fingerprint) => format!("{zone} {} {fingerprint:016x}\n", floor.serial),
                None => format!("{zone} {}\n", floor.serial),
            })
            .collect();
        if let Err(error) = write_atomically(&self.path, text.as_bytes()) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    %error,
                    "cannot write {}: after a restart a zone's serial may go back (set --state to a writable directory)",
                    self.path.display()
                );
            }
        } else {
            self.warned.store(false, Ordering::Relaxed);
        }
    }
}

fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_survive_a_reopen_and_bad_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/serials");
        let (file, floors) = SerialFile::open(&path);
        assert!(floors.is_empty());
        let floor = |serial: u32, fingerprint: Option<u64>| SerialFloor {
            serial,
            fingerprint,
        };
        file.record([
            ("a.test".to_string(), floor(7, Some(1))),
            ("b.test".to_string(), floor(9, None)),
        ]);
        file.record([("a.test".to_string(), floor(8, Some(0xfeed)))]);
        let mut text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("a.test 8 000000000000feed\n"), "{text}");
        // A line as written before fingerprints, and lines that are not serials.
        text.push_str("c.test 3\ngarbage line here\nd.test 4 not-hex\n");
        std::fs::write(&path, text).unwrap();
        let (_, floors) = SerialFile::open(&path);
        assert_eq!(floors.get("a.test"), Some(&floor(8, Some(0xfeed))));
        assert_eq!(floors.get("b.test"), Some(&floor(9, None)));
        assert_eq!(floors.get("c.test"), Some(&floor(3, None)));
        assert_eq!(floors.len(), 3);
    }
}

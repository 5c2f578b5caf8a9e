//! Zones directories for the tests, and free loopback ports for the programs they
//! start.

use std::path::{Path, PathBuf};

/// A temp dir holding `zones/` with `files` (path relative to `zones/`, contents);
/// the dir, and the path of `zones/`.
pub fn write_zones(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let zones = dir.path().join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    write_files(&zones, files);
    (dir, zones)
}

/// Writes `files` (path relative to `dir`, contents), making directories as needed.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

/// The zones shipped in the repository.
pub fn shipped_zones() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("zones")
}

/// A temp dir holding a copy of the shipped zones as `zones/`.
pub fn shipped_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&shipped_zones(), &dir.path().join("zones"));
    dir
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A loopback port free for both UDP and TCP right now (for programs that take a
/// port, not a socket).
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// [`write_zones`], for tests that only need the temp dir (`zones/` inside it).
pub fn zones_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    write_zones(files).0
}
